"""Probes that transform another task's requests into groups of variants and compare answers
within each group. The base task (default: pope) plans the questions, parses the answers and
gives the verdicts; the probe only changes images and compares.

- image_swap: the same question about a second image whose gold answer differs (the answer
  must change) and about one whose gold answer is the same (it must not), as NaturalBench pairs
  its questions. Partners are other requests of the base task with the same prompt, so the
  probe works over any yes/no or short-answer task whose questions recur across images.
- blind: the same question with the image removed, blank, or noise.

Write `image_swap:counting` or `blind:vqa` to run over another task (`image_swap` alone is
`image_swap:pope`); `--data blind:hallusionbench=PATH` gives the base task its files, so the
probes run over the public benchmarks too (HallusionBench asks each question of several
figures: image_swap's partners).
"""

from __future__ import annotations

import random
import zlib
from dataclasses import replace
from typing import Any, Mapping, Sequence

import numpy as np

from vlmeval.data import synthetic_ref
from vlmeval.errors import ConfigError
from vlmeval.probes import PROBES
from vlmeval.records import Parsed, Request, Verdict
from vlmeval.schema import is_answer
from vlmeval.stats import CountTable, safe_ratio
from vlmeval.tasks.base import Task, TaskScore


class VariantProbe(Task):
    """Base class: groups of (original, variants...) built from a base task's requests."""

    variants: tuple[str, ...] = ()

    def __init__(self, *, base: str = "pope", data=None, images=None, **common: Any) -> None:
        from vlmeval.tasks.suites import resolve_task

        super().__init__(**common)
        if base in PROBES and issubclass(PROBES.get(base), VariantProbe):
            raise ConfigError(f"{type(self).name}: base {base!r} is itself a variant probe; "
                              f"name a task such as pope, counting or vqa")
        # --data for `blind:hallusionbench` is the base task's: the probe varies its requests
        base_class = resolve_task(base)
        if data is not None and not base_class.reads_data:
            raise ConfigError(f"task {base!r} reads only its built-in data; --data for "
                              f"{type(self).name}:{base} applies to bases that read files")
        self.base = base_class(limit=self.limit, seed=self.seed,
                               **({"data": data, "images": images} if data is not None else {}))
        self.base_name = base
        self.skipped = 0  # image_swap: questions with no partner image (set by requests())
        # Runs over other bases keep separate sample files and results.
        self.name = type(self).name if base == "pope" else f"{type(self).name}:{base}"

    def args(self) -> dict[str, Any]:
        return {**super().args(), "base": self.base_name, "base_version": self.base.version,
                "base_args": self.base.args()}

    def scoring_inputs(self) -> dict[str, Any]:
        return {"base": self.base.scoring_inputs()}

    def restore(self, scoring: Mapping[str, Any]) -> None:
        pass  # the base task is restored by from_entry

    def comparable_inputs(self) -> dict[str, Any]:
        return {"base": self.base.comparable_inputs()}  # `skipped` describes the plan only

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> "VariantProbe":
        """The probe and its base task, each from the recorded args and scoring inputs."""
        from vlmeval.tasks.suites import resolve_task

        args = entry["args"]
        probe = cls(base=args["base"], **cls.scoring_kwargs(args))
        probe.base = resolve_task(args["base"]).from_entry(
            {"args": args["base_args"], "scoring": entry["scoring"]["base"]})
        probe.restore(entry["scoring"])
        return probe

    def base_requests(self) -> list[Request]:
        """The base task's requests, each (question, image) once: POPE asks its positives in
        every setting, and a repeated question adds no information here."""
        seen: set[tuple[str, str | None]] = set()
        out = []
        for r in self.base.requests():
            key = (r.prompt, r.image.sha256 if r.image else None)
            if key not in seen:
                seen.add(key)
                out.append(r)
        return out

    def variant_of(self, request: Request, variant: str, source: Request) -> Request:
        """`source` (the original or a partner) re-labelled as `variant` of `request`'s group."""
        return replace(source, task=self.name, request_id=f"{request.request_id}|{variant}",
                       sample_id=request.sample_id, variant=variant,
                       meta={**source.meta, "group": request.request_id})

    def parse(self, raw: str, policy: str) -> Parsed:
        return self.base.parse(raw, policy)

    def read(self, record: Mapping[str, Any], policy: str) -> Parsed:
        return self.base.read(record, policy)

    def verdict(self, record: dict[str, Any], parsed: Parsed) -> Verdict:
        return self.base.verdict(record, parsed)

    def answers(self, records: Sequence[dict[str, Any]], policy: str) -> dict[str, dict[str, Any]]:
        """group -> variant -> (parsed answer or None, correct), for answered records only (a
        group missing a variant because its request failed is left out by the metrics)."""
        out: dict[str, dict[str, Any]] = {}
        for r in records:
            if not is_answer(r):
                continue
            parsed = self.read(r, policy)
            correct = bool(self.verdict(r, parsed).correct)
            out.setdefault(r["meta"]["group"], {})[r["variant"]] = (parsed.answer, correct)
        return out


def _agree(a: tuple, b: tuple) -> bool:
    return a[0] is not None and a[0] == b[0]


@PROBES.register("image_swap")
class ImageSwapProbe(VariantProbe):
    """Same question, swapped image: flip rate (gold differs, answer must change), stability
    (gold same, answer must not), pair accuracy (original and swapped both right).

    An unparsed answer never counts as a flip or as stable. Questions with no partner image of
    a different answer are left out (`skipped` says how many). Units are images."""

    name = "image_swap"
    version = "1"
    headline = "pair_accuracy"
    variants = ("original", "swap_diff", "swap_same")
    companions = ("flip_rate", "stability")

    def scoring_inputs(self) -> dict[str, Any]:
        return {**super().scoring_inputs(), "skipped": self.skipped}

    def restore(self, scoring: Mapping[str, Any]) -> None:
        self.skipped = scoring["skipped"]

    def requests(self) -> list[Request]:
        base = self.base_requests()
        by_prompt: dict[str, list[Request]] = {}
        for r in base:
            by_prompt.setdefault(r.prompt, []).append(r)
        out, self.skipped = [], 0
        for r in base:
            rng = random.Random(f"image_swap-{self.seed}-{r.request_id}")
            others = [o for o in by_prompt[r.prompt] if o.image != r.image]
            diff = [o for o in others if o.target != r.target]
            same = [o for o in others if o.target == r.target]
            if not diff:
                self.skipped += 1
                continue
            out.append(self.variant_of(r, "original", r))
            out.append(self.variant_of(r, "swap_diff", rng.choice(diff)))
            if same:
                out.append(self.variant_of(r, "swap_same", rng.choice(same)))
        return out

    def score(self, records: Sequence[dict[str, Any]], policy: str, seed: int) -> TaskScore:
        return TaskScore(metrics=self.count_table(records, policy).bootstrap(seed),
                         base=self.base_name, skipped=self.skipped,
                         notes=[f"over {self.base_name}'s questions; {self.skipped} without a "
                                f"partner image of another answer left out"])

    def count_table(self, records: Sequence[dict[str, Any]], policy: str) -> CountTable:
        units = {sid: i for i, sid in enumerate(dict.fromkeys(r["sample_id"] for r in records))}
        unit_of = {r["meta"]["group"]: units[r["sample_id"]] for r in records}
        # columns: diff groups, flips, pairs right, same groups, stable, originals right
        counts = np.zeros((len(units), 6))
        for group, v in self.answers(records, policy).items():
            if "original" not in v:
                continue
            row = counts[unit_of[group]]
            if "swap_diff" in v:
                row[5] += v["original"][1]
                row[[0, 1, 2]] += (1, v["original"][0] is not None and v["swap_diff"][0] is not None
                                   and v["original"][0] != v["swap_diff"][0],
                                   v["original"][1] and v["swap_diff"][1])
            if "swap_same" in v:
                row[[3, 4]] += (1, _agree(v["original"], v["swap_same"]))
        metrics = {"flip_rate": lambda s: safe_ratio(s[..., 1], s[..., 0]),
                   "stability": lambda s: safe_ratio(s[..., 4], s[..., 3]),
                   "pair_accuracy": lambda s: safe_ratio(s[..., 2], s[..., 0]),
                   "original_accuracy": lambda s: safe_ratio(s[..., 5], s[..., 0])}
        n_of = {"flip_rate": lambda s: s[..., 0], "stability": lambda s: s[..., 3],
                "pair_accuracy": lambda s: s[..., 0], "original_accuracy": lambda s: s[..., 0]}
        return CountTable(list(units), counts, metrics, n_of)


@PROBES.register("blind")
class BlindProbe(VariantProbe):
    """The base task's questions with the image removed, blank, or noise.

    accuracy/<variant> is scored against the original image's gold answer (accuracy without
    vision); multimodal_gain/<variant> = accuracy with the image minus without (paired over
    the same questions; ~0 for a model that ignores the image); prior_agreement/<variant> = how
    often the answer with the image equals the answer without it (1.0 for a model that never
    looks). An unparsed answer never agrees. The oracle reads gold targets, so it scores as if
    it saw the original image. Units are images."""

    name = "blind"
    version = "1"
    headline = "no_image/multimodal_gain"
    variants = ("original", "no_image", "blank", "noise")
    lower_is_better = frozenset({"prior_agreement"})
    companions = ("original/accuracy", "no_image/accuracy")

    def requests(self) -> list[Request]:
        out = []
        for r in self.base_requests():
            noise = f"noise:{zlib.crc32(r.request_id.encode())}"
            out.append(self.variant_of(r, "original", r))
            for variant, image in (("no_image", None), ("blank", synthetic_ref("blank")),
                                   ("noise", synthetic_ref(noise))):
                out.append(self.variant_of(r, variant, replace(r, image=image)))
        return out

    def score(self, records: Sequence[dict[str, Any]], policy: str, seed: int) -> TaskScore:
        return TaskScore(metrics=self.count_table(records, policy).bootstrap(seed),
                         base=self.base_name, notes=[f"over {self.base_name}'s questions"])

    def count_table(self, records: Sequence[dict[str, Any]], policy: str) -> CountTable:
        units = {sid: i for i, sid in enumerate(dict.fromkeys(r["sample_id"] for r in records))}
        unit_of = {r["meta"]["group"]: units[r["sample_id"]] for r in records}
        blind = self.variants[1:]
        # columns: groups, original right, then per blind variant: right, agrees with original
        counts = np.zeros((len(units), 2 + 2 * len(blind)))
        for group, v in self.answers(records, policy).items():
            if not all(k in v for k in self.variants):
                continue
            row = counts[unit_of[group]]
            row[[0, 1]] += (1, v["original"][1])
            for k, name in enumerate(blind):
                row[[2 + 2 * k, 3 + 2 * k]] += (v[name][1], _agree(v["original"], v[name]))
        metrics = {"original/accuracy": lambda s: safe_ratio(s[..., 1], s[..., 0])}
        for k, name in enumerate(blind):
            metrics[f"{name}/accuracy"] = lambda s, k=k: safe_ratio(s[..., 2 + 2 * k], s[..., 0])
            metrics[f"{name}/multimodal_gain"] = lambda s, k=k: safe_ratio(
                s[..., 1] - s[..., 2 + 2 * k], s[..., 0])
            metrics[f"{name}/prior_agreement"] = lambda s, k=k: safe_ratio(s[..., 3 + 2 * k], s[..., 0])
        n_of = {name: (lambda s: s[..., 0]) for name in metrics}
        return CountTable(list(units), counts, metrics, n_of)
