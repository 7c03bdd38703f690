"""counting: "How many {shapes} are there in the image?" on the scenes eval split.

Per image: every category it holds (answers 1..6) and one category it does not hold (answer 0,
chosen with the task seed), so a model cannot score by always answering "1" or by assuming
anything asked about is present. With --data: any source whose first answer is a whole number
(a JSONL manifest of TallyQA- or HowMany-QA-style questions, a parquet file, ...).

Metrics: exact accuracy and off-by-one accuracy over all questions (an unparsed answer is
wrong, never read as 0); MAE and RMSE over parsed answers (n = parsed answers);
majority_accuracy, what always answering the most common gold count would score;
unparsed_rate. Extras: the gold x predicted confusion matrix. Units for the CIs are images.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any, Sequence

import numpy as np

from vlmeval.data import prompts, scenes_samples
from vlmeval.data.scenes import CATEGORIES
from vlmeval.parsing import LARGEST_COUNT, parse_count
from vlmeval.errors import DataError
from vlmeval.records import Parsed, Request, Sample, Verdict
from vlmeval.sections import matrix
from vlmeval.stats import CountTable, safe_ratio
from vlmeval.tasks.base import TASKS, Task, TaskScore

MAX_COUNT = 9  # scenes counts are 0..6; the confusion matrix has rows up to the largest gold
CONFUSION_CAP = 50  # ... and at most this many: larger counts share the last row and column
# Per-image count vector; MAJORITY counts questions whose gold is the most common gold count.
COLUMNS = ("n", "exact", "within_one", "parsed", "abs_err", "sq_err", "majority")
N, EXACT, WITHIN1, PARSED, ABS, SQ, MAJORITY = range(len(COLUMNS))


@TASKS.register("counting")
class CountingTask(Task):
    """Counts of each shape in scenes images (exact, off-by-one, MAE, RMSE vs the majority)."""

    name = "counting"
    version = "1"
    headline = "exact_accuracy"
    reads_data = True
    lower_is_better = frozenset({"mae", "rmse", "unparsed_rate"})
    neutral = frozenset({"majority_accuracy"})
    companions = ("majority_accuracy", "off_by_one_accuracy")

    def requests(self) -> list[Request]:
        if self.data is not None:
            return [self._data_request(s) for s in self.data_samples()]
        samples = scenes_samples("eval")[: self.limit]
        rng = random.Random(f"counting-{self.seed}")
        out = []
        for sample in samples:
            scene = sample.fields["scene"]
            absent = [c for c in CATEGORIES if c not in scene.categories]
            for category in [*scene.categories, rng.choice(absent)]:
                gold = scene.count(category)
                out.append(Request(
                    task=self.name, request_id=f"{sample.id}/{category}", sample_id=sample.id,
                    prompt=prompts.count_question(category), image=sample.image,
                    target=str(gold), max_new_tokens=8,
                    meta={"category": category, "count": gold}))
        return out

    def _data_request(self, sample: Sample) -> Request:
        answer = str(sample.fields["answers"][0]).strip()
        if not (answer.isascii() and answer.isdigit()) or int(answer) > LARGEST_COUNT:
            raise DataError(f"{self.data}: item {sample.id} has answer {answer!r}; counting needs "
                            f"a whole number from 0 to {LARGEST_COUNT} as its first answer")
        return Request(task=self.name, request_id=sample.id,
                       sample_id=sample.fields.get("unit", sample.id),
                       prompt=sample.fields["question"], image=sample.image, target=answer,
                       max_new_tokens=8, meta={"category": None, "count": int(answer)})

    def parse(self, raw: str, policy: str) -> Parsed:
        return parse_count(raw, policy)

    def verdict(self, record: dict[str, Any], parsed: Parsed) -> Verdict:
        gold = record["meta"]["count"]
        if parsed.answer is None:
            return Verdict(correct=False, outcome="unparsed")
        error = int(parsed.answer) - gold
        return Verdict(correct=error == 0, outcome="exact" if error == 0 else "wrong",
                       scores={"error": float(error)})

    def count_table(self, records: Sequence[dict[str, Any]], policy: str) -> CountTable:
        """Per-image counts, overall and per slice a record's meta names (TallyQA: simple,
        complex), each slice's metrics under its prefix; the majority count is the whole
        run's."""
        units = {sid: i for i, sid in enumerate(dict.fromkeys(r["sample_id"] for r in records))}
        slices = ["", *sorted({s for r in records for s in r["meta"].get("slices", ())})]
        width = len(COLUMNS)
        majority = self.majority(records)
        counts = np.zeros((len(units), width * len(slices)))
        for r in records:
            u, gold = units[r["sample_id"]], r["meta"]["count"]
            parsed = self.read(r, policy)
            row = np.zeros(width)
            row[[N, MAJORITY]] = (1, gold == majority)
            if parsed.answer is not None:
                error = int(parsed.answer) - gold
                row[[PARSED, EXACT, WITHIN1, ABS, SQ]] = (1, error == 0, abs(error) <= 1,
                                                          abs(error), error * error)
            for s in ("", *r["meta"].get("slices", ())):
                b = slices.index(s) * width
                counts[u, b:b + width] += row
        metrics, n_of = {}, {}
        for block, s in enumerate(slices):
            b, prefix = block * width, f"{s}/" if s else ""
            c = lambda k, b=b: (lambda t: t[..., b + k])  # noqa: E731
            metrics.update({
                prefix + "exact_accuracy": lambda t, b=b: safe_ratio(t[..., b + EXACT], t[..., b + N]),
                prefix + "off_by_one_accuracy": lambda t, b=b: safe_ratio(t[..., b + WITHIN1], t[..., b + N]),
                prefix + "mae": lambda t, b=b: safe_ratio(t[..., b + ABS], t[..., b + PARSED]),
                prefix + "rmse": lambda t, b=b: np.sqrt(safe_ratio(t[..., b + SQ], t[..., b + PARSED])),
                prefix + "majority_accuracy": lambda t, b=b: safe_ratio(t[..., b + MAJORITY], t[..., b + N]),
                prefix + "unparsed_rate": lambda t, b=b: safe_ratio(t[..., b + N] - t[..., b + PARSED],
                                                                     t[..., b + N]),
            })
            for name in ("exact_accuracy", "off_by_one_accuracy", "majority_accuracy", "unparsed_rate"):
                n_of[prefix + name] = c(N)
            n_of[prefix + "mae"] = n_of[prefix + "rmse"] = c(PARSED)
        return CountTable(list(units), counts, metrics, n_of)

    @staticmethod
    def majority(records: Sequence[dict[str, Any]]) -> int:
        golds = Counter(r["meta"]["count"] for r in records)
        return min(golds, key=lambda k: (-golds[k], k)) if golds else 0  # ties: the smaller

    def score(self, records: Sequence[dict[str, Any]], policy: str, seed: int) -> TaskScore:
        table = self.count_table(records, policy)
        top = min(CONFUSION_CAP, max([MAX_COUNT, *(r["meta"]["count"] for r in records)]))
        confusion = np.zeros((top + 1, top + 2), dtype=int)  # last column: unparsed
        for r in records:
            parsed = self.read(r, policy)
            column = -1 if parsed.answer is None else min(int(parsed.answer), top)
            confusion[min(r["meta"]["count"], top), column] += 1
        return TaskScore(
            metrics=table.bootstrap(seed),
            majority_answer=str(self.majority(records)),
            sections=[matrix("confusion: gold count (rows) by predicted count (columns)",
                             "confusion")],
            confusion={"rows": f"gold count 0..{top} ({top} = {top} or more)",
                       "columns": f"predicted 0..{top} ({top} = {top} or more), then unparsed",
                       "matrix": confusion.tolist(), "last_column": "unparsed"},
            n_images=len(table.units),
        )
