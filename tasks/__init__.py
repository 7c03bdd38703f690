"""Tasks (installed as vlmeval.tasks): what a user reports besides hallucination."""
