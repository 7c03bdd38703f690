"""vqa: open-ended questions scored with the official VQAv2 accuracy (vlmeval.metrics.vqa).

On the scenes eval split, up to five questions per image, each with ten human-style answers:
- "What colour is the {shape}?" (other): ten times the colour;
- "What size is the {shape}?" (other): seven "large" and three "big" (or "small"/"little"),
  so "big" scores 0.9, as a synonym three annotators used would;
- "What shape is the {colour} object?" (other), when one object has that colour: ten times
  the shape;
- "How many objects are there in the image?" (number): seven digits and three number words;
- "Is the {shape} {colour}?" (yes/no), true or false with the task seed: ten times the answer.
Questions are about shapes that occur once, so "the star" is unambiguous.

With --data: any source (vlmeval.data.sources), e.g. the official VQAv2 questions and
annotations files; one request per question, its answers, answer type and question type as
annotated.

Metrics: accuracy (the mean official per-question accuracy: 0, 0.3, 0.6, 0.9 or 1), the same
per answer type and per question type, and exact_match_rate (questions scoring 1). An empty
output scores 0; nothing is unparsed, since the evaluator reads every output. A question with
other than ten answers (a manifest with one reference, say) cannot use the formula, which
assumes ten annotators: it scores 1 when the normalised output equals any normalised answer,
else 0, and the results say how many questions were scored that way. Units for the
CIs are images (a source's `unit`, the image id, where it gives one).
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any, Sequence

import numpy as np

from vlmeval.data import prompts, scenes_samples
from vlmeval.data.scenes import COLOURS, Scene
from vlmeval.metrics.vqa import RULES, normalize_prediction, vqa_score
from vlmeval.records import ImageRef, Parsed, Request, Verdict
from vlmeval.stats import CountTable, safe_ratio
from vlmeval.tasks.base import TASKS, Task, TaskScore

SIZE_SYNONYMS = {"large": "big", "small": "little"}
# Per-image counts: n, sum of accuracy, exact matches, then (n, sum) per answer type and per
# question type.
N, ACC, EXACT = range(3)


def scene_questions(scene: Scene, rng: random.Random) -> list[tuple[str, list[str], str, str]]:
    """(question, ten answers, answer type, question type) for one scene."""
    unique = [o for o in scene.objects if scene.count(o.category) == 1]
    out = []
    if unique:
        o = rng.choice(unique)
        out.append((prompts.colour_question(o.category), [o.colour] * 10, "other",
                    "what colour is the"))
        o = rng.choice(unique)
        out.append((f"What size is the {o.category}?",
                    [o.size] * 7 + [SIZE_SYNONYMS[o.size]] * 3, "other", "what size is the"))
        o = rng.choice(unique)
        colour = o.colour if rng.random() < 0.5 else rng.choice(sorted(COLOURS))
        answer = "yes" if colour == o.colour else "no"
        out.append((f"Is the {o.category} {colour}?", [answer] * 10, "yes/no", "is the"))
    by_colour = [o for o in scene.objects if sum(p.colour == o.colour for p in scene.objects) == 1]
    if by_colour:
        o = rng.choice(by_colour)
        out.append((f"What shape is the {o.colour} object?", [o.category] * 10, "other",
                    "what shape is the"))
    n = len(scene.objects)
    out.append(("How many objects are there in the image?",
                [str(n)] * 7 + [prompts.NUMBER_WORDS[n]] * 3, "number", "how many"))
    return out


@TASKS.register("vqa")
class VQATask(Task):
    """Attribute, count and yes/no questions on scenes, scored with the VQAv2 accuracy."""

    name = "vqa"
    version = "2"  # 2: questions without ten answers score by exact match, not the formula
    headline = "accuracy"
    reads_data = True

    def requests(self) -> list[Request]:
        if self.data is not None:
            return [self._request(s.fields.get("unit", s.id), s.id, s.image, s.fields["question"],
                                  list(s.fields["answers"]), s.fields.get("answer_type", "other"),
                                  s.fields.get("question_type", "none of the above"))
                    for s in self.data_samples()]
        samples = scenes_samples("eval")[: self.limit]
        rng = random.Random(f"vqa-{self.seed}")
        return [self._request(sample.id, f"{sample.id}/{q}", sample.image, *question)
                for sample in samples
                for q, question in enumerate(scene_questions(sample.fields["scene"], rng))]

    def _request(self, unit: str, request_id: str, image: ImageRef | None, question: str,
                 answers: list[str], answer_type: str, question_type: str) -> Request:
        return Request(task=self.name, request_id=request_id, sample_id=unit, prompt=question,
                       image=image, target=answers[0], max_new_tokens=8,
                       meta={"answers": answers, "answer_type": answer_type,
                             "question_type": question_type})

    def parse(self, raw: str, policy: str) -> Parsed:
        """The evaluator's normalisation, under either policy (it reads every output)."""
        return Parsed.ok(normalize_prediction(raw))

    def verdict(self, record: dict[str, Any], parsed: Parsed) -> Verdict:
        accuracy, _ = vqa_score(record["raw"], list(record["meta"]["answers"]))
        return Verdict(correct=accuracy == 1.0, outcome=f"accuracy {accuracy:.1f}",
                       scores={"vqa_accuracy": accuracy})

    def score(self, records: Sequence[dict[str, Any]], policy: str, seed: int) -> TaskScore:
        table = self.count_table(records, policy)
        rules = Counter(vqa_score("", list(r["meta"]["answers"]))[1] for r in records)
        notes = [f"{n} question(s) scored by {RULES[rule]}" for rule, n in sorted(rules.items())
                 if rule != "vqav2"]
        return TaskScore(metrics=table.bootstrap(seed), n_images=len(table.units),
                         accuracy_rules=dict(rules), notes=notes)

    def count_table(self, records: Sequence[dict[str, Any]], policy: str) -> CountTable:
        """Per-type breakdowns cover the answer and question types present in the records."""
        units = {sid: i for i, sid in enumerate(dict.fromkeys(r["sample_id"] for r in records))}
        groups = [*(f"answer_type/{t}" for t in sorted({r["meta"]["answer_type"] for r in records})),
                  *(f"question_type/{t}" for t in sorted({r["meta"]["question_type"] for r in records}))]
        index = {g: i for i, g in enumerate(groups)}
        counts = np.zeros((len(units), 3 + 2 * len(groups)))
        for r in records:
            u, meta = units[r["sample_id"]], r["meta"]
            accuracy, _ = vqa_score(r["raw"] or "", list(meta["answers"]))
            counts[u, [N, ACC, EXACT]] += (1, accuracy, accuracy == 1.0)
            for g in (index[f"answer_type/{meta['answer_type']}"],
                      index[f"question_type/{meta['question_type']}"]):
                counts[u, [3 + 2 * g, 4 + 2 * g]] += (1, accuracy)
        metrics = {"accuracy": lambda s: safe_ratio(s[..., ACC], s[..., N]),
                   "exact_match_rate": lambda s: safe_ratio(s[..., EXACT], s[..., N])}
        n_of = {name: (lambda s: s[..., N]) for name in metrics}
        for g, group in enumerate(groups):
            metrics[f"{group}/accuracy"] = lambda s, g=g: safe_ratio(s[..., 4 + 2 * g], s[..., 3 + 2 * g])
            n_of[f"{group}/accuracy"] = lambda s, g=g: s[..., 3 + 2 * g]
        return CountTable(list(units), counts, metrics, n_of)
