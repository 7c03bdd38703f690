"""Hallucination probes (installed as vlmeval.probes): tasks that test whether a model looks."""

from vlmeval.registry import Registry
from vlmeval.tasks.base import Task

PROBES: Registry[type[Task]] = Registry("probe")

from vlmeval.probes import chair, pope, variants  # noqa: E402  (register themselves)

__all__ = ["PROBES", "chair", "pope", "variants"]
