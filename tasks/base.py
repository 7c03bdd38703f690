"""What every task and probe provides to the runner.

A task plans Requests from its samples, parses raw outputs under a named policy, gives each
answer a verdict, and turns the run's sample records into metrics. Scoring reads only the
records stored in the run directory, so every number can be recomputed from it.
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

from vlmeval.errors import ConfigError
from vlmeval.parsing import POLICIES
from vlmeval.records import Metric, Parsed, Request, Verdict
from vlmeval.registry import Registry


class Task:
    """Base class. Subclasses set name, version (bump when prompt, parser or metric changes),
    headline (the metric a summary shows first) and implement the four methods below."""

    name: ClassVar[str]
    version: ClassVar[str]
    headline: ClassVar[str]
    policies: ClassVar[tuple[str, ...]] = POLICIES

    def __init__(self, *, limit: int | None = None, seed: int = 0) -> None:
        if limit is not None and limit < 1:
            raise ConfigError(f"{self.name}: --limit must be a positive number of samples, got {limit}")
        self.limit = limit
        self.seed = seed

    def args(self) -> dict[str, Any]:
        """The arguments that shape the requests (recorded in run.json)."""
        return {"limit": self.limit, "seed": self.seed}

    def requests(self) -> list[Request]:
        raise NotImplementedError

    def parse(self, raw: str, policy: str) -> Parsed:
        raise NotImplementedError

    def verdict(self, record: dict[str, Any], parsed: Parsed) -> Verdict:
        raise NotImplementedError

    def score(self, records: Sequence[dict[str, Any]], policy: str, seed: int) -> "TaskScore":
        raise NotImplementedError


class TaskScore(dict):
    """{"metrics": {name: Metric}, ...task-specific plain extras (counts, breakdowns)}."""

    @property
    def metrics(self) -> dict[str, Metric]:
        return self["metrics"]


TASKS: Registry[type[Task]] = Registry("task")
