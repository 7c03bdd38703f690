"""spatial: "Is the {A} to the left of / to the right of / above / below the {B}?" on scenes.

Pairs are objects whose categories occur once in the image (so "the star" is unambiguous) in
different grid columns (left/right) or rows (above/below): at least 13 px apart, never a
judgement call. Per pair, one valid relation is drawn with the task seed and asked both ways,
"A rel B?" and "B rel A?", whose true answers are opposite: half the gold answers are "yes".
At most MAX_PAIRS pairs per image.

Metrics: accuracy, accuracy per relation, consistency (the share of complementary pairs whose
two parsed answers differ, as logic requires, whether or not they are right), both_correct
(pairs with both answers right), unparsed_rate. Unparsed answers are wrong and make a pair
inconsistent. Units for the CIs are images.

With --data: yes/no spatial questions from any source (a JSONL manifest or a local HF dataset
with question, answer yes/no, and optionally `relation` for the per-relation breakdown and
`pair` naming complementary questions about the same image for consistency).
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any, Sequence

import numpy as np

from vlmeval.data import prompts, scenes_samples
from vlmeval.parsing import parse_yes_no
from vlmeval.errors import DataError
from vlmeval.records import Parsed, Request, Sample, Verdict
from vlmeval.stats import CountTable, safe_ratio
from vlmeval.tasks.base import TASKS, Task, TaskScore, label_verdict

MAX_PAIRS = 2
RELATIONS = tuple(prompts.RELATIONS)
# Per-image count vector: n, correct, unparsed, pairs, consistent pairs, both correct, then
# (n, correct) per relation.
N, CORRECT, UNPARSED, PAIRS, CONSISTENT, BOTH = range(6)


@TASKS.register("spatial")
class SpatialTask(Task):
    """Left/right/above/below between two well-separated objects, asked both ways (yes/no)."""

    name = "spatial"
    version = "1"
    headline = "accuracy"
    reads_data = True
    lower_is_better = frozenset({"unparsed_rate"})
    companions = ("consistency",)

    def requests(self) -> list[Request]:
        if self.data is not None:
            return [self._data_request(s) for s in self.data_samples()]
        samples = scenes_samples("eval")[: self.limit]
        rng = random.Random(f"spatial-{self.seed}")
        out = []
        for sample in samples:
            scene = sample.fields["scene"]
            unique = [o for o in scene.objects if scene.count(o.category) == 1]
            pairs = [(a, b) for i, a in enumerate(unique) for b in unique[i + 1:]]
            rng.shuffle(pairs)
            for p, (a, b) in enumerate(pairs[:MAX_PAIRS]):
                relation = rng.choice([r for r in RELATIONS
                                       if prompts.relation_holds(a, r, b) is not None])
                for order, (x, y) in enumerate(((a, b), (b, a))):
                    label = "yes" if prompts.relation_holds(x, relation, y) else "no"
                    out.append(Request(
                        task=self.name, request_id=f"{sample.id}/{p}/{order}",
                        sample_id=sample.id, image=sample.image, target=label,
                        prompt=prompts.spatial_question(x.category, relation, y.category),
                        options=("yes", "no"), max_new_tokens=8,
                        meta={"relation": relation, "pair": p, "label": label,
                              "subject": x.category, "object": y.category}))
        return out

    def _data_request(self, sample: Sample) -> Request:
        label = sample.fields["answers"][0].strip().lower()
        if label not in ("yes", "no"):
            raise DataError(f"{self.data}: item {sample.id} has answer {label!r}; spatial "
                            f"questions are answered yes or no")
        return Request(task=self.name, request_id=sample.id,
                       sample_id=sample.fields.get("unit", sample.id), image=sample.image,
                       target=label, prompt=sample.fields["question"], options=("yes", "no"),
                       max_new_tokens=8,
                       meta={"relation": sample.fields.get("relation", "unspecified"),
                             "pair": sample.fields.get("pair"), "label": label})

    def parse(self, raw: str, policy: str) -> Parsed:
        return parse_yes_no(raw, policy)

    def verdict(self, record: dict[str, Any], parsed: Parsed) -> Verdict:
        return label_verdict(record, parsed)

    def score(self, records: Sequence[dict[str, Any]], policy: str, seed: int) -> TaskScore:
        table = self.count_table(records, policy)
        return TaskScore(metrics=table.bootstrap(seed), n_images=len(table.units))

    def count_table(self, records: Sequence[dict[str, Any]], policy: str) -> CountTable:
        units = {sid: i for i, sid in enumerate(dict.fromkeys(r["sample_id"] for r in records))}
        present = {r["meta"]["relation"] for r in records}
        relations = [r for r in RELATIONS if r in present or not records] + sorted(present - set(RELATIONS))
        counts = np.zeros((len(units), 6 + 2 * len(relations)))
        answers: dict[tuple[str, Any], list[tuple[str | None, bool]]] = defaultdict(list)
        for r in records:
            u, rel = units[r["sample_id"]], relations.index(r["meta"]["relation"])
            parsed = self.read(r, policy)
            correct = parsed.answer == r["meta"]["label"]
            counts[u, [N, CORRECT, UNPARSED, 6 + 2 * rel, 7 + 2 * rel]] += (
                1, correct, parsed.answer is None, 1, correct)
            if r["meta"]["pair"] is not None:
                answers[(r["sample_id"], r["meta"]["pair"])].append((parsed.answer, correct))
        for (sample_id, _), pair in answers.items():
            if len(pair) != 2:
                continue  # a limited or partial plan; only whole pairs count
            (a1, c1), (a2, c2) = pair
            counts[units[sample_id], [PAIRS, CONSISTENT, BOTH]] += (
                1, a1 is not None and a2 is not None and a1 != a2, c1 and c2)

        metrics = {
            "accuracy": lambda s: safe_ratio(s[..., CORRECT], s[..., N]),
            "consistency": lambda s: safe_ratio(s[..., CONSISTENT], s[..., PAIRS]),
            "both_correct": lambda s: safe_ratio(s[..., BOTH], s[..., PAIRS]),
            "unparsed_rate": lambda s: safe_ratio(s[..., UNPARSED], s[..., N]),
        }
        n_of = {"accuracy": lambda s: s[..., N], "unparsed_rate": lambda s: s[..., N],
                "consistency": lambda s: s[..., PAIRS], "both_correct": lambda s: s[..., PAIRS]}
        for i, rel in enumerate(relations):
            metrics[f"{rel}/accuracy"] = lambda s, i=i: safe_ratio(s[..., 7 + 2 * i], s[..., 6 + 2 * i])
            n_of[f"{rel}/accuracy"] = lambda s, i=i: s[..., 6 + 2 * i]
        return CountTable(list(units), counts, metrics, n_of)
