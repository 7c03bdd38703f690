"""Metrics that reproduce an official evaluator's numbers (one module per benchmark family)."""
