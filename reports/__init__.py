"""Rendering of run results (installed as vlmeval.reports)."""
