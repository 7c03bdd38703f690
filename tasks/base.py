"""What every task and probe provides to the runner.

A task plans Requests from its samples, parses raw outputs under a named policy, gives each
answer a verdict, and turns the run's sample records into metrics.

Scoring is a function of (records, recorded task entry, policy, seed): everything a task needs
to score besides the records goes into run.json when the requests are planned (`args()` and
`scoring_inputs()`), and `from_entry` rebuilds a task that scores from that entry alone, without
its source data, images, option files or model (vlmeval/scoring.py; `vlmeval rescore`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

from vlmeval.errors import ConfigError
from vlmeval.parsing import POLICIES
from vlmeval.records import Metric, Parsed, Request, Sample, Verdict
from vlmeval.registry import Registry
from vlmeval.schema import is_answer
from vlmeval.stats import CountTable


class Task:
    """Base class. Subclasses set name, version (bump when prompt, parser or metric changes),
    headline (the metric a summary shows first) and implement the four methods below."""

    name: ClassVar[str]
    version: ClassVar[str]
    headline: ClassVar[str]
    policies: ClassVar[tuple[str, ...]] = POLICIES
    # Whether `--data` applies: the task reads questions and answers from any source
    # (vlmeval.data.sources), not only from the built-in world.
    reads_data: ClassVar[bool] = False
    # Whether the task runs only on --data (the public benchmarks: no built-in version).
    needs_data: ClassVar[bool] = False
    # Run options (RunConfig.task_options keys, e.g. "synonyms") the constructor takes.
    accepts: ClassVar[tuple[str, ...]] = ()
    # Metric names (the part after the last "/") where lower is better, or neither is: compare,
    # gate and the pages read these (results.json records each metric's direction).
    lower_is_better: ClassVar[frozenset[str]] = frozenset()
    neutral: ClassVar[frozenset[str]] = frozenset()
    # Metrics shown beside the headline, which it cannot be read without (CHAIR beside recall:
    # a model that names no object has CHAIR 0).
    companions: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, limit: int | None = None, seed: int = 0, data: Path | None = None,
                 images: Path | None = None) -> None:
        if limit is not None and limit < 1:
            raise ConfigError(f"{self.name}: --limit must be a positive number of samples, got {limit}")
        if data is not None and not self.reads_data:
            raise ConfigError(f"task {self.name!r} reads only its built-in data; --data applies "
                              f"to tasks that read files (see `vlmeval list tasks`)")
        self.limit = limit
        self.seed = seed
        self.data = Path(data) if data is not None else None
        self.images = Path(images) if images is not None else None

    def args(self) -> dict[str, Any]:
        """The arguments that shape the requests (recorded in run.json)."""
        out: dict[str, Any] = {"limit": self.limit, "seed": self.seed}
        if self.data is not None:
            out.update(data=str(self.data), images=str(self.images) if self.images else None)
        return out

    def scoring_inputs(self) -> dict[str, Any]:
        """What scoring needs besides the records and args() (JSON values), recorded in run.json
        after requests() ran: data-derived statistics, the synonym table used, the settings
        planned. Scoring never reads source data or outside files."""
        return {}

    def comparable_inputs(self) -> dict[str, Any]:
        """The scoring inputs two runs must share to be compared (by default all of them; a
        task leaves out those that only describe which requests a run holds, since runs are
        compared on the requests they share)."""
        return self.scoring_inputs()

    def restore(self, scoring: Mapping[str, Any]) -> None:
        """Take back what scoring_inputs() recorded (on a task built by from_entry)."""
        if scoring:
            raise ValueError(f"{self.name}: unexpected scoring inputs {sorted(scoring)}")

    @classmethod
    def scoring_kwargs(cls, args: Mapping[str, Any]) -> dict[str, Any]:
        """Constructor arguments, from the recorded args, of a task that only scores."""
        return {"limit": args["limit"], "seed": args["seed"]}

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> "Task":
        """The task that scores a run, from its run.json entry alone (no data is read)."""
        task = cls(**cls.scoring_kwargs(entry["args"]))
        task.restore(entry["scoring"])
        return task

    def direction(self, metric: str) -> str:
        """higher | lower | neutral: which way a metric of this task is better."""
        leaf = metric.rpartition("/")[2]
        return "lower" if leaf in self.lower_is_better else "neutral" if leaf in self.neutral else "higher"

    def data_samples(self) -> list[Sample]:
        """The samples of --data for this task (its fields: question, answers, extras)."""
        from vlmeval.data.sources import load_samples

        assert self.data is not None
        return load_samples(self.data, self.name, self.images, self.limit)

    def requests(self) -> list[Request]:
        raise NotImplementedError

    def parse(self, raw: str, policy: str) -> Parsed:
        raise NotImplementedError

    def read(self, record: Mapping[str, Any], policy: str) -> Parsed:
        """The answer of a stored record under a policy: an errored request is status "error"
        (never an answer); otherwise parse(raw). Tasks whose reading needs more of the record
        than its text (text_mc: the choices and their log-probabilities) override this."""
        if not is_answer(record):
            return Parsed(None, "error")
        return self.parse(record["raw"], policy)

    def verdict(self, record: dict[str, Any], parsed: Parsed) -> Verdict:
        raise NotImplementedError

    def score(self, records: Sequence[dict[str, Any]], policy: str, seed: int) -> "TaskScore":
        raise NotImplementedError

    def count_table(self, records: Sequence[dict[str, Any]], policy: str) -> CountTable | None:
        """The per-unit counts behind score()'s metrics, which `vlmeval compare` resamples
        paired across runs; None for a task without one (compare then tests correctness only)."""
        return None


def label_verdict(record: Mapping[str, Any], parsed: Parsed) -> Verdict:
    """Right when the parsed answer equals the record's meta label; unparsed is wrong."""
    if parsed.answer is None:
        return Verdict(correct=False, outcome="unparsed")
    correct = parsed.answer == record["meta"]["label"]
    return Verdict(correct=correct, outcome="correct" if correct else "wrong")


class TaskScore(dict):
    """{"metrics": {name: Metric}, ...task-specific plain extras (counts, breakdowns)}."""

    @property
    def metrics(self) -> dict[str, Metric]:
        return self["metrics"]


TASKS: Registry[type[Task]] = Registry("task")
