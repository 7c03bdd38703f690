"""Suites: named sets of tasks and probes, each with the number of samples it uses (None: all),
and name resolution across the task and probe registries."""

from __future__ import annotations

import difflib
from types import MappingProxyType
from typing import Any, Mapping

from vlmeval.errors import ConfigError
from vlmeval.probes import PROBES
from vlmeval.registry import Registry, UnknownName, discover
from vlmeval import plugins
from vlmeval.tasks.base import TASKS, Task

discover("vlmeval.tasks")  # each task file registers itself
plugins.load(plugins.TASK_GROUP)

Suite = Mapping[str, "int | None"]  # task -> --limit it runs with (None: every sample)
SUITES: Registry[Suite] = Registry("suite")


def suite(name: str, tasks: dict[str, int | None], about: str) -> None:
    SUITES.register(name)(MappingProxyType(tasks))
    ABOUT[name] = about


ABOUT: dict[str, str] = {}
# image_swap and blind ask every POPE question three and four times: 200 images keep the
# suite to a few minutes on CPU (`--suite all` or `--tasks` runs them on every image).
suite("hallucination", {"pope": None, "chair": None, "image_swap": 200, "blind": 200},
      "does the model look at the image")
suite("vision", {"vqa": None, "captioning": None, "counting": None, "spatial": None},
      "visual question answering, captions, counts, spatial relations")
suite("text", {"text_gen": None, "text_mc": None}, "text skills with no image")
# Fixed small subsets for regression gates: under a minute on 2 CPU cores with the shipped
# model. Changing a limit changes every baseline gated on this suite.
suite("ci", {"pope": 20, "chair": 40, "image_swap": 20, "blind": 20, "vqa": 40, "captioning": 40, "counting": 40, "spatial": 60,
             "text_gen": None, "text_mc": None},
      "small fixed subsets of every task, for CI gates")
# The public benchmarks, each from the user's copy of its files (--data TASK=PATH per task).
suite("hallucination-bench", {"hallusionbench": None, "amber": None, "mme": None, "naturalbench": None},
      "HallusionBench, AMBER, MME and NaturalBench from their authors' files (--data NAME=PATH for each)")
suite("vision-bench", {"mmstar": None, "vsr": None, "tallyqa": None, "countbench": None},
      "MMStar, VSR, TallyQA and CountBench from their authors' files (--data NAME=PATH for each)")
suite("all", {name: None for name in (*SUITES.get("hallucination"), *SUITES.get("vision"),
                                      *SUITES.get("text"))},
      "every task and probe on its built-in data, all samples")


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


def make_task(spec: str, options: Mapping[str, Any] | None = None, **common: Any) -> Task:
    """A task from its spec: "pope", or "image_swap:counting" for a probe over another task.
    options: run options (e.g. synonyms); each task gets those it `accepts`."""
    name, _, base = spec.partition(":")
    cls = resolve_task(name)
    common.update({k: v for k, v in (options or {}).items() if k in cls.accepts})
    if base:
        from vlmeval.probes.variants import VariantProbe

        if not issubclass(cls, VariantProbe):
            raise ConfigError(f"{spec!r}: only variant probes (image_swap, blind) take a base "
                              f"task after ':'")
        return cls(base=base, **common)
    return cls(**common)


def suite_tasks(name: str) -> tuple[str, ...]:
    return tuple(SUITES.get(name))


def suite_limits(name: str) -> Suite:
    return SUITES.get(name)


def describe_suite(name: str) -> str:
    """One line for `vlmeval list suites`: what it is for and each task with its sample limit."""
    tasks = ", ".join(t if n is None else f"{t} ({n})" for t, n in SUITES.get(name).items())
    return f"{ABOUT[name]}: {tasks}"
