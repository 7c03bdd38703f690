"""Hallucination probes (installed as vlmeval.probes): tasks that test whether a model looks."""

from vlmeval.registry import Registry, discover
from vlmeval.tasks.base import Task

PROBES: Registry[type[Task]] = Registry("probe")

discover("vlmeval.probes")  # each probe file registers itself

__all__ = ["PROBES"]
