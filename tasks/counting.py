"""counting: "How many {shapes} are there in the image?" on the scenes eval split.

Per image: every category it holds (answers 1..6) and one category it does not hold (answer 0,
chosen with the task seed), so a model cannot score by always answering "1" or by assuming
anything asked about is present.

Metrics: exact accuracy and off-by-one accuracy over all questions (an unparsed answer is
wrong, never read as 0); MAE and RMSE over parsed answers (n = parsed answers);
majority_accuracy, what always answering the most common gold count would score;
unparsed_rate. Extras: the gold x predicted confusion matrix. Units for the CIs are images.
"""

from __future__ import annotations

import random
from typing import Any, Sequence

import numpy as np

from vlmeval.data import prompts, scenes_samples
from vlmeval.data.scenes import CATEGORIES
from vlmeval.parsing import parse_count
from vlmeval.records import Parsed, Request, Verdict
from vlmeval.stats import bootstrap_metrics, safe_ratio
from vlmeval.tasks.base import TASKS, Task, TaskScore

MAX_COUNT = 9  # gold counts are 0..6; parsed answers above 9 are clipped in the confusion matrix
# Per-image count vector.
COLUMNS = ("n", "exact", "within_one", "parsed", "abs_err", "sq_err", *(f"gold_{k}" for k in
                                                                      range(MAX_COUNT + 1)))
N, EXACT, WITHIN1, PARSED, ABS, SQ, GOLD0 = range(7)


@TASKS.register("counting")
class CountingTask(Task):
    """Counts of each shape in scenes images (exact, off-by-one, MAE, RMSE vs the majority)."""

    name = "counting"
    version = "1"
    headline = "exact_accuracy"

    def requests(self) -> list[Request]:
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

    def parse(self, raw: str, policy: str) -> Parsed:
        return parse_count(raw, policy)

    def verdict(self, record: dict[str, Any], parsed: Parsed) -> Verdict:
        gold = record["meta"]["count"]
        if parsed.answer is None:
            return Verdict(correct=False, outcome="unparsed")
        error = int(parsed.answer) - gold
        return Verdict(correct=error == 0, outcome="exact" if error == 0 else "wrong",
                       scores={"error": float(error)})

    def score(self, records: Sequence[dict[str, Any]], policy: str, seed: int) -> TaskScore:
        units = {sid: i for i, sid in enumerate(dict.fromkeys(r["sample_id"] for r in records))}
        counts = np.zeros((len(units), len(COLUMNS)))
        confusion = np.zeros((MAX_COUNT + 1, MAX_COUNT + 2), dtype=int)  # last column: unparsed
        for r in records:
            u, gold = units[r["sample_id"]], r["meta"]["count"]
            parsed = Parsed.unparsed() if r["raw"] is None else self.parse(r["raw"], policy)
            counts[u, N] += 1
            counts[u, GOLD0 + gold] += 1
            if parsed.answer is None:
                confusion[gold, -1] += 1
                continue
            error = int(parsed.answer) - gold
            counts[u, [PARSED, EXACT, WITHIN1, ABS, SQ]] += (1, error == 0, abs(error) <= 1,
                                                             abs(error), error * error)
            confusion[gold, min(int(parsed.answer), MAX_COUNT)] += 1

        majority = int(np.argmax(counts[:, GOLD0:].sum(axis=0))) if len(records) else 0
        metrics = {
            "exact_accuracy": lambda s: safe_ratio(s[..., EXACT], s[..., N]),
            "off_by_one_accuracy": lambda s: safe_ratio(s[..., WITHIN1], s[..., N]),
            "mae": lambda s: safe_ratio(s[..., ABS], s[..., PARSED]),
            "rmse": lambda s: np.sqrt(safe_ratio(s[..., SQ], s[..., PARSED])),
            "majority_accuracy": lambda s: safe_ratio(s[..., GOLD0 + majority], s[..., N]),
            "unparsed_rate": lambda s: safe_ratio(s[..., N] - s[..., PARSED], s[..., N]),
        }
        n_of = {name: (lambda s: s[..., N]) for name in metrics}
        n_of["mae"] = n_of["rmse"] = lambda s: s[..., PARSED]
        return TaskScore(
            metrics=bootstrap_metrics(counts, metrics, n_of, seed=seed),
            majority_answer=str(majority),
            confusion={"rows": "gold count 0..9", "columns": "predicted 0..9 (9 = 9 or more), "
                       "then unparsed", "matrix": confusion.tolist()},
            n_images=len(units),
        )
