"""Suites: named lists of tasks and probes, and name resolution across both registries."""

from __future__ import annotations

import difflib

from vlmeval.probes import PROBES
from vlmeval.registry import Registry, UnknownName
from vlmeval.tasks import captioning, counting, spatial, text, vqa  # noqa: F401  (register themselves)
from vlmeval.tasks.base import TASKS, Task

SUITES: Registry[tuple[str, ...]] = Registry("suite")
SUITES.register("hallucination")(("pope",))
SUITES.register("vision")(("vqa", "captioning", "counting", "spatial"))
SUITES.register("text")(("text_gen", "text_mc"))


def task_names() -> list[str]:
    return sorted(set(TASKS.names()) | set(PROBES.names()))


def resolve_task(name: str) -> type[Task]:
    """A task or probe class by registry name; unknown names list the valid ones."""
    for registry in (TASKS, PROBES):
        if name in registry:
            return registry.get(name)
    valid = task_names()
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownName(f"unknown task {name!r}{hint} (valid: {', '.join(valid)})")


def suite_tasks(name: str) -> tuple[str, ...]:
    return SUITES.get(name)
