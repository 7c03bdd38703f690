"""captioning: "Describe the image." scored as the COCO caption evaluator does.

BLEU-1..4, ROUGE-L, CIDEr-D and METEOR (where Java runs it) from pycocoevalcap's scorer classes (vlmeval.metrics.caption)
against every reference caption of the image: five per scenes image
(`prompts.reference_captions`), the annotations' captions on COCO. The oracle answers with the
first reference, so it scores BLEU and ROUGE-L 1.0; CIDEr-D is not bounded by 1. With --data:
any source, e.g. a COCO captions annotation JSON and its images (a row's question, if any,
replaces the prompt).

CIDEr-D's document frequencies come from the evaluated set (pycocoevalcap computes them from the
references it is given), so its value depends on which images are scored: compare CIDEr-D only
between runs on the same images. Results name the tokenizer that ran (Java PTBTokenizer or the
pure-Python stand-in). An empty or failed output is scored as an empty caption, not skipped.
Units for the CIs are images; the bootstrap recomputes corpus BLEU from per-image n-gram
statistics and averages per-image ROUGE-L, CIDEr-D and METEOR (document frequencies held
fixed; METEOR's point value is its corpus score, its CI from the per-image scores).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from vlmeval.data import prompts, scenes_samples
from vlmeval.metrics.caption import BLEU_N, BLEU_WIDTH, bleu_from_sums, caption_scores
from vlmeval.records import Parsed, Request, Verdict
from vlmeval.stats import CountTable, safe_ratio
from vlmeval.tasks.base import TASKS, Task, TaskScore

# columns after the BLEU stats
ROUGE, CIDER, METEOR, N = BLEU_WIDTH, BLEU_WIDTH + 1, BLEU_WIDTH + 2, BLEU_WIDTH + 3


@TASKS.register("captioning")
class CaptioningTask(Task):
    """One caption per image; BLEU-1..4, ROUGE-L, CIDEr-D against all its references."""

    name = "captioning"
    version = "2"
    headline = "cider_d"
    companions = ("bleu_4", "rouge_l")
    reads_data = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._scored: dict[str, tuple[np.ndarray, dict]] = {}

    def requests(self) -> list[Request]:
        if self.data is not None:
            items = [(s, list(s.fields["answers"]), s.fields.get("question") or None)
                     for s in self.data_samples()]
        else:
            items = [(s, prompts.reference_captions(s.fields["scene"]), None)
                     for s in scenes_samples("eval")[: self.limit]]
        return [Request(task=self.name, request_id=sample.id, sample_id=sample.id,
                        prompt=question or prompts.CAPTION_QUESTION, image=sample.image,
                        target=refs[0], max_new_tokens=64, meta={"references": refs})
                for sample, refs, question in items]

    def parse(self, raw: str, policy: str) -> Parsed:
        """The caption as written, under either policy (the tokenizer normalises it)."""
        return Parsed.ok(raw.strip())

    def verdict(self, record: dict[str, Any], parsed: Parsed) -> Verdict:
        """Caption metrics are corpus-level; per sample there is no right or wrong."""
        return Verdict(correct=None, outcome="scored with the set")

    def _scores(self, records: Sequence[dict[str, Any]]) -> tuple[list[str], np.ndarray, dict]:
        refs = {r["request_id"]: list(r["meta"]["references"]) for r in records}
        hyps = {r["request_id"]: (r["raw"] or "").strip() for r in records}
        key = repr((sorted(refs.items()), sorted(hyps.items())))
        if key not in self._scored:  # both policies read the same text: tokenise once
            self._scored[key] = caption_scores(refs, hyps)
        return list(refs), *self._scored[key]

    def count_table(self, records: Sequence[dict[str, Any]], policy: str) -> CountTable:
        """Per-image n-gram statistics, ROUGE-L and CIDEr-D (CIDEr-D's document frequencies
        come from these records' images)."""
        ids, stats, _ = self._scores(records)
        counts = np.concatenate([stats, np.ones((len(stats), 1))], axis=1)
        metrics = {f"bleu_{n}": (lambda s, n=n: bleu_from_sums(s, n)) for n in range(1, BLEU_N + 1)}
        metrics["rouge_l"] = lambda s: safe_ratio(s[..., ROUGE], s[..., N])
        metrics["cider_d"] = lambda s: safe_ratio(s[..., CIDER], s[..., N])
        if len(stats) and not np.isnan(stats[:, METEOR]).any():  # METEOR needs Java
            metrics["meteor"] = lambda s: safe_ratio(s[..., METEOR], s[..., N])
        n_of = {name: (lambda s: s[..., N]) for name in metrics}
        return CountTable(ids, counts, metrics, n_of)

    def score(self, records: Sequence[dict[str, Any]], policy: str, seed: int) -> TaskScore:
        official = self._scores(records)[2]
        scored = self.count_table(records, policy).bootstrap(seed)
        for name, metric in scored.items():  # the point estimate is pycocoevalcap's own value
            if name in official and metric.n:
                scored[name] = type(metric)(official[name], metric.ci_low, metric.ci_high, metric.n)
        return TaskScore(metrics=scored, tokenizer=official["tokenizer"], n_images=len(records),
                         meteor_scorer=official.get("meteor_scorer"),
                         notes=[f"tokenizer: {official['tokenizer']}",
                                "CIDEr-D document frequencies computed over the evaluated images",
                                *([f"METEOR: {official['meteor_scorer']}"]
                                  if "meteor_scorer" in official else [])])
