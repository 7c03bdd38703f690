"""Third-party adapters and tasks, registered through Python entry points.

A package declares, in its pyproject.toml:

    [project.entry-points."vlmeval.adapters"]
    "myorg:my-model" = "my_pkg.adapter:make"      # factory(spec) -> Adapter, a named model
    [project.entry-points."vlmeval.tasks"]
    my_task = "my_pkg.task:MyTask"                # a Task subclass

and `vlmeval list` shows them after `pip install my_pkg`. An adapter entry point may also be a
`vlmeval.adapters.Loader` (detect + load), which then reads checkpoint directories. A plugin
that fails to load is reported on stderr and skipped; vlmeval keeps working.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

ADAPTER_GROUP = "vlmeval.adapters"
TASK_GROUP = "vlmeval.tasks"
_loaded: set[str] = set()


def load(group: str) -> None:
    """Register every entry point of `group` once per process."""
    if group in _loaded:
        return
    _loaded.add(group)
    for ep in entry_points(group=group):
        try:
            _register(group, ep.name, ep.load())
        except Exception as e:  # noqa: BLE001 - a broken plugin must not break vlmeval
            print(f"vlmeval: plugin {ep.name!r} ({ep.value}) in {group} was skipped: "
                  f"{type(e).__name__}: {e}", file=sys.stderr)


def _register(group: str, name: str, obj: object) -> None:
    if group == ADAPTER_GROUP:
        from vlmeval.adapters import LOADERS, MODELS, Loader

        (LOADERS if isinstance(obj, Loader) else MODELS).register(name)(obj)
        return
    from vlmeval.tasks.base import TASKS, Task

    if not (isinstance(obj, type) and issubclass(obj, Task)):
        raise TypeError(f"expected a vlmeval Task subclass, got {obj!r}")
    if getattr(obj, "name", None) != name:  # run.json names the class by its registry key
        raise TypeError(f"the entry point is named {name!r} but the task's `name` is "
                        f"{getattr(obj, 'name', None)!r}; make them equal")
    TASKS.register(name)(obj)
