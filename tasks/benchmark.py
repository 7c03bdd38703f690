"""What the public benchmarks share: their own files, yes/no questions, consistency groups
declared by the data, breakdowns by the data's categories, and the authors' metric names.

A benchmark task reads the authors' files (`--data NAME=PATH`, images from `--images DIR`) into
Requests whose meta carries everything scoring needs:

- `label`: the gold answer ("yes"/"no");
- `slices`: the breakdowns the question belongs to ("VD", "VD/chart"): each gets its own copy
  of every metric under that prefix;
- `groups`: {kind: key or None}: questions sharing a key form a group that is right only if
  all its questions are (HallusionBench's figures and question pairs, MME's image pairs,
  NaturalBench's question/image/group); `{kind}_accuracy` is the share of right groups;
- the request's `sample_id` is its CI unit: the bootstrap resamples units, so a unit must hold
  whole groups (HallusionBench: a question set; AMBER: an image). `--limit N` keeps the first
  N units, so a limited run never splits a group.

Metrics for every slice: accuracy, yes_ratio, unparsed_rate, and where the benchmark names a
positive class (AMBER: "no"), precision, recall and F1 of that class. Unparsed answers are
wrong, count in every denominator and are shown; F1 is 2 TP / (2 TP + FP + FN), 0 when there
is no true positive and something to find, NaN when there is nothing at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Sequence

import numpy as np

from vlmeval.errors import ConfigError
from vlmeval.parsing import choice_letter
from vlmeval.records import Parsed, Request, Verdict
from vlmeval.schema import is_answer
from vlmeval.sections import metric_grid
from vlmeval.stats import CountTable, safe_ratio
from vlmeval.tasks.base import Task, TaskScore, label_verdict

# Per-slice count columns; then (groups, right groups) per group kind.
N, CORRECT, UNPARSED, SAID_YES, TP, PREDICTED, ACTUAL = range(7)
BASE = 7


def require_data(task) -> tuple[Path, Path | None]:
    """(--data, --images) of a benchmark task; a one-line error saying where to get the files
    when --data is missing."""
    if task.data is None:
        raise ConfigError(f"task {task.name!r} runs on the benchmark's own files: pass "
                          f"--data {task.name}=PATH (and --images DIR); {task.source}")
    if task.images is not None and not Path(task.images).is_dir():
        raise ConfigError(f"{task.images}: --images must be the folder holding "
                          f"{task.name}'s images")
    return task.data, task.images


def first_units(requests: list[Request], limit: int | None) -> list[Request]:
    """The requests of the first `limit` units (images, question sets): --limit never splits a
    figure, a question pair or an image's two questions."""
    if limit is None:
        return requests
    kept: set[str] = set()
    out = []
    for r in requests:
        if r.sample_id not in kept:
            if len(kept) == limit:
                continue
            kept.add(r.sample_id)
        out.append(r)
    return out


class Benchmark(Task):
    """Base class of the named benchmarks: a task that runs only on the authors' files."""

    reads_data = True
    needs_data = True
    # Where users get the files and what --data points at (shown when --data is missing).
    source: ClassVar[str] = ""
    # The consistency group kinds the data declares (request meta "groups").
    group_kinds: ClassVar[tuple[str, ...]] = ()
    # The class precision/recall/F1 are about, or None for none of them.
    positive: ClassVar[str | None] = None
    # vlmeval's metric name -> the authors' name for it (recorded in results, shown in reports).
    authors_names: ClassVar[Mapping[str, str]] = {}
    # Where vlmeval's scoring differs from the authors' (shown with the results).
    differences: ClassVar[tuple[str, ...]] = ()
    # The metrics the report's per-slice table shows (one row per slice, e.g. VD, VD/chart).
    grid: ClassVar[tuple[str, ...]] = ("accuracy",)
    lower_is_better = frozenset({"unparsed_rate"})
    neutral = frozenset({"yes_ratio"})

    def requests(self):
        return first_units(self.load(*require_data(self)), self.limit)

    def load(self, path: Path, images: Path | None) -> list:
        """The benchmark's requests from its files (one-line DataErrors naming file, record
        and field)."""
        raise NotImplementedError

    def verdict(self, record: dict[str, Any], parsed: Parsed) -> Verdict:
        return label_verdict(record, parsed)

    def score(self, records: Sequence[dict[str, Any]], policy: str, seed: int) -> TaskScore:
        table = self.count_table(records, policy)
        names = {m: name for m in table.metrics if (name := self.authors_name(m))}
        notes = ["authors' names: " + ", ".join(f"{m} = {a}" for m, a in self.authors_names.items()),
                 *self.differences]
        slices = sorted({m.rpartition("/")[0] for m in table.metrics if "/" in m})
        columns = [c for c in self.grid if any(m.rpartition("/")[2] == c for m in table.metrics)]
        sections = [metric_grid("by category", slices, columns)] if slices and columns else []
        return TaskScore(metrics=table.bootstrap(seed), units=len(table.units),
                         authors_names=names, notes=notes, sections=sections)

    def authors_name(self, metric: str) -> str | None:
        prefix, _, leaf = metric.rpartition("/")
        name = self.authors_names.get(leaf)
        return None if name is None else f"{prefix} {name}".strip()

    def count_table(self, records: Sequence[dict[str, Any]], policy: str) -> CountTable:
        return answer_table(records, lambda r: self.read(r, policy), self.group_kinds, self.positive)


def answer_table(records: Sequence[dict[str, Any]], read: Callable[[dict], Parsed],
                 group_kinds: Sequence[str], positive: str | None, yes_no: bool = True) -> CountTable:
    """Per-unit counts of every slice's questions, answers and groups (module docstring). A
    record whose meta says `counted: false` (a rotated copy in circular evaluation) counts in
    its groups only. yes_no: whether answers are yes/no (else no yes_ratio)."""
    units = {u: i for i, u in enumerate(dict.fromkeys(r["sample_id"] for r in records))}
    slices = ["", *sorted({s for r in records for s in r["meta"].get("slices", ())})]
    width = BASE + 2 * len(group_kinds)
    counts = np.zeros((len(units), width * len(slices)))
    groups: dict[tuple[str, str, str], list[bool]] = {}  # (slice, kind, key) -> rights
    group_unit: dict[tuple[str, str, str], int] = {}
    for r in records:
        answer = read(r).answer
        label = r["meta"]["label"]
        row = np.zeros(BASE)
        row[[N, CORRECT, UNPARSED, SAID_YES]] = (1, answer == label, answer is None, answer == "yes")
        if positive is not None:
            row[[TP, PREDICTED, ACTUAL]] = (answer == positive == label, answer == positive,
                                            label == positive)
        u = units[r["sample_id"]]
        counted = r["meta"].get("counted", True)
        for s in ("", *r["meta"].get("slices", ())):
            block = slices.index(s) * width
            if counted:
                counts[u, block:block + BASE] += row
            for kind in group_kinds:
                key = r["meta"].get("groups", {}).get(kind)
                if key is not None:
                    groups.setdefault((s, kind, key), []).append(answer == label)
                    group_unit[s, kind, key] = u
    for (s, kind, key), rights in groups.items():
        column = slices.index(s) * width + BASE + 2 * group_kinds.index(kind)
        counts[group_unit[s, kind, key], [column, column + 1]] += (1, all(rights))

    metrics: dict[str, Callable] = {}
    n_of: dict[str, Callable] = {}
    for block, s in enumerate(slices):
        b = block * width
        prefix = f"{s}/" if s else ""

        def add(name, num, den, b=b):
            metrics[prefix + name] = lambda c: safe_ratio(num(c, b), den(c, b))
            n_of[prefix + name] = lambda c: den(c, b)

        col = lambda k: (lambda c, b: c[..., b + k])  # noqa: E731
        add("accuracy", col(CORRECT), col(N))
        if yes_no:
            add("yes_ratio", col(SAID_YES), col(N))
        add("unparsed_rate", col(UNPARSED), col(N))
        if positive is not None:
            add("precision", col(TP), col(PREDICTED))
            add("recall", col(TP), col(ACTUAL))
            add("f1", lambda c, b: 2 * c[..., b + TP],
                lambda c, b: c[..., b + PREDICTED] + c[..., b + ACTUAL])
            # its n: the questions F1 depends on (TP + FP + FN), not the 2 TP + FP + FN it divides by
            n_of[prefix + "f1"] = lambda c, b=b: c[..., b + PREDICTED] + c[..., b + ACTUAL] - c[..., b + TP]
        for g, kind in enumerate(group_kinds):
            add(f"{kind}_accuracy", col(BASE + 2 * g + 1), col(BASE + 2 * g))
    return CountTable(list(units), counts, metrics, n_of)


LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MC_INSTRUCTION = "Answer with the option's letter from the given choices directly."


class ChoiceItem:
    """One multiple-choice question as a benchmark's file gives it."""

    def __init__(self, id: str, unit: str, image, question: str, choices: Sequence[str],
                 answer: int, slices: Sequence[str] = ()) -> None:
        self.id, self.unit, self.image, self.question = id, unit, image, question
        self.choices, self.answer, self.slices = list(choices), answer, tuple(slices)


class ChoiceBenchmark(Benchmark):
    """Image multiple choice: options lettered A, B, ... from the data, the answer read as a
    letter (`choice_letter`; unparsed counted), accuracy overall and per slice.

    `--circular` (circular evaluation, as MMBench's authors define it): each question is asked
    once per rotation of its options (A B C D, B C D A, ...) and counts as right in
    circular_accuracy only when every rotation is answered right; accuracy stays the first
    rotation's (the plain run's questions)."""

    accepts = ("circular",)
    group_kinds = ("circular",)
    neutral = frozenset()

    def __init__(self, *, circular: bool = False, **common: Any) -> None:
        super().__init__(**common)
        self.circular = bool(circular)

    def args(self) -> dict[str, Any]:
        return {**super().args(), "circular": self.circular}

    @classmethod
    def scoring_kwargs(cls, args: Mapping[str, Any]) -> dict[str, Any]:
        return {**super().scoring_kwargs(args), "circular": args.get("circular", False)}

    def items(self, path: Path, images: Path | None) -> list[ChoiceItem]:
        raise NotImplementedError

    def prompt(self, item: ChoiceItem, choices: Sequence[str], rotation: int) -> str:
        """The question, its lettered options one per line, and the instruction LLaVA's
        authors use for multiple choice."""
        options = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))
        return f"{item.question}\n{options}\n{MC_INSTRUCTION}"

    def load(self, path: Path, images: Path | None) -> list[Request]:
        out = []
        for item in self.items(path, images):
            n = len(item.choices)
            for k in range(n) if self.circular else (0,):
                choices = item.choices[k:] + item.choices[:k]
                letter = LETTERS[(item.answer - k) % n]
                out.append(Request(
                    task=self.name, request_id=f"{item.id}/rotation{k}" if self.circular else item.id,
                    sample_id=item.unit, prompt=self.prompt(item, choices, k), image=item.image,
                    target=letter, options=tuple(LETTERS[:n]), max_new_tokens=16,
                    meta={"label": letter, "choices": choices, "slices": item.slices,
                          "groups": {"circular": item.id if self.circular else None},
                          "counted": k == 0}))
        return out

    def read(self, record: Mapping[str, Any], policy: str) -> Parsed:
        if not is_answer(record):
            return Parsed(None, "error")
        return self.parse_choice(record["raw"], record["options"], record["meta"]["choices"], policy)

    def parse_choice(self, raw: str, letters: Sequence[str], texts: Sequence[str], policy: str) -> Parsed:
        return choice_letter(raw, letters, texts, policy)

    def parse(self, raw: str, policy: str) -> Parsed:  # read() is used: parsing needs the options
        raise NotImplementedError("multiple-choice answers are read with their options (read)")

    def count_table(self, records: Sequence[dict[str, Any]], policy: str) -> CountTable:
        return answer_table(records, lambda r: self.read(r, policy),
                            self.group_kinds if self.circular else (), None, yes_no=False)
