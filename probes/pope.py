"""POPE: polling-based object probing (Li et al., EMNLP 2023), built like the reference code.

Questions ("Is there a/an {object} in the image?") are built from images with at least 3 object
categories. For each image and setting, the first 3 categories are positives and each positive
is followed by one negative (never present in the image, never asked twice about it):

- random: uniform over the vocabulary of the selected images;
- popular: the most frequent categories over the selected images;
- adversarial: the categories that co-occur most often with that positive over the selected
  images.

Popular and adversarial fall back to random when their list runs out, as in the reference.

With --data: a COCO instances JSON (instances_val2014.json and its images; 500 images with at
least 3 categories drawn with the seed, as the reference samples them; --limit N draws N), or
ready-made questions: POPE's files (coco_pope_<setting>.json, JSON lines of question_id,
image, text, label; the setting from the file name), the Hugging Face POPE layout (question_id,
question, answer, image_source, image, category) as parquet or save_to_disk, or a manifest.
Metrics treat "yes" as the positive class; a question the parser could not read (strict policy)
or that errored is never a "yes": it counts against accuracy and recall, not as a false
positive, and shows in unparsed_rate.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from dataclasses import replace
from typing import Any, Mapping, Sequence

import numpy as np

from vlmeval.data import coco, scenes_samples
from vlmeval.data.files import read_json
from vlmeval.data.sources import is_json_lines, load_samples
from vlmeval.errors import ConfigError, DataError
from vlmeval.parsing import parse_yes_no
from vlmeval.probes import PROBES
from vlmeval.probes.false_positive import (conditional_cooccurrence, cooccurrence_strength,
                                           fp_breakdown, score_mode)
from vlmeval.records import Parsed, Request, Sample, Verdict
from vlmeval import sections as report
from vlmeval.stats import CountTable, safe_ratio
from vlmeval.tasks.base import Task, TaskScore

SETTINGS = ("random", "popular", "adversarial")
TEMPLATE = "Is there {article} {object} in the image?"
_ASKED = re.compile(r"is there an? (.+?) in the im", re.IGNORECASE)
# Per-unit count vector; unparsed answers are split by gold label.
COUNTS = ("tp", "fp", "tn", "fn", "unparsed_pos", "unparsed_neg")
TP, FP, TN, FN, UP, UN = range(len(COUNTS))


def question(obj: str) -> str:
    article = "an" if obj[0].lower() in "aeiou" else "a"
    return TEMPLATE.format(article=article, object=obj)


def select_images(samples: Sequence[Sample], min_objects: int) -> list[Sample]:
    return [s for s in samples if len(s.objects) >= min_objects]


def frequency_order(samples: Sequence[Sample]) -> list[str]:
    """Categories by count over the samples, most frequent first (ties: first seen first)."""
    counts = Counter(o for s in samples for o in s.objects)
    return [o for o, _ in sorted(counts.items(), key=lambda kv: -kv[1])]


def cooccurrence_order(samples: Sequence[Sample]) -> dict[str, list[str]]:
    """For each category, the others by how many samples hold both, most first."""
    co: dict[str, Counter] = defaultdict(Counter)
    for s in samples:
        for o in s.objects:
            for other in s.objects:
                if other != o:
                    co[o][other] += 1
    return {o: [x for x, _ in sorted(c.items(), key=lambda kv: -kv[1])] for o, c in co.items()}


def build_questions(
    samples: Sequence[Sample], setting: str, n_pos: int, rng: random.Random
) -> list[tuple[Sample, str, str]]:
    """(sample, object, label) triples in the reference order: pos, neg, pos, neg, ..."""
    if setting not in SETTINGS:
        raise ConfigError(f"unknown POPE setting {setting!r} (valid: {', '.join(SETTINGS)})")
    vocabulary = list(dict.fromkeys(o for s in samples for o in s.objects))
    popular = frequency_order(samples)
    co = cooccurrence_order(samples)
    out = []
    for s in samples:
        asked: list[str] = []

        def fresh(candidates: Sequence[str]) -> str | None:
            for c in candidates:
                if c not in asked and c not in s.objects:
                    return c
            return None

        for positive in s.objects[:n_pos]:
            asked.append(positive)
            out.append((s, positive, "yes"))
            negative = None
            if setting == "popular":
                negative = fresh(popular)
            elif setting == "adversarial":
                negative = fresh(co.get(positive, []))
            if negative is None:
                if fresh(vocabulary) is None:
                    raise ConfigError(
                        f"POPE: no category left to ask as a negative for {s.id}; the selected "
                        f"images use only {len(vocabulary)} categories")
                negative = rng.choice(vocabulary)
                while negative in asked or negative in s.objects:
                    negative = rng.choice(vocabulary)
            asked.append(negative)
            out.append((s, negative, "no"))
    return out


def _metrics_for(sums: np.ndarray) -> dict[str, np.ndarray]:
    c = [sums[..., i] for i in range(len(COUNTS))]
    n = sum(c)
    positives = c[TP] + c[FN] + c[UP]
    negatives = c[FP] + c[TN] + c[UN]
    return {
        "accuracy": safe_ratio(c[TP] + c[TN], n),
        "precision": safe_ratio(c[TP], c[TP] + c[FP]),
        "recall": safe_ratio(c[TP], positives),
        # 2TP / (2TP + FP + FN), FN including unparsed positives: sklearn's definition.
        "f1": safe_ratio(2 * c[TP], 2 * c[TP] + c[FP] + c[FN] + c[UP]),
        "yes_ratio": safe_ratio(c[TP] + c[FP], n),
        "false_positive_rate": safe_ratio(c[FP], negatives),
        "unparsed_rate": safe_ratio(c[UP] + c[UN], n),
    }


def _denominators(sums: np.ndarray) -> dict[str, np.ndarray]:
    c = [sums[..., i] for i in range(len(COUNTS))]
    n = sum(c)
    return {
        "accuracy": n, "precision": c[TP] + c[FP], "recall": c[TP] + c[FN] + c[UP],
        "f1": n, "yes_ratio": n, "false_positive_rate": c[FP] + c[TN] + c[UN],
        "unparsed_rate": n,
    }


METRICS = tuple(_metrics_for(np.zeros(len(COUNTS))))


def positives_of(requests: Sequence[Request]) -> list[Sample]:
    """Question files: each image with the objects asked about it whose answer is yes."""
    positives: dict[str, list[str]] = {}
    for r in requests:
        objects = positives.setdefault(r.sample_id, [])
        if r.target == "yes" and r.meta["object"] not in objects:
            objects.append(r.meta["object"])
    return [Sample(id=u, image=None, objects=tuple(o)) for u, o in positives.items()]


def first_units(requests: list[Request], limit: int | None) -> list[Request]:
    """The requests about the first `limit` units (images), all of them without a limit."""
    if not limit:
        return requests
    keep: set[str] = set()
    for r in requests:
        if len(keep) >= limit:
            break
        keep.add(r.sample_id)
    return [r for r in requests if r.sample_id in keep]


def with_cooccurrence(requests: list[Request], samples: Sequence[Sample]) -> list[Request]:
    """Each negative question with the strength of its absent object's co-occurrence with the
    image's objects (meta["cooccurrence"], see false_positive.cooccurrence_strength), computed
    over all the probe's images when the questions are planned: scoring reads it from the
    record and needs no image annotations."""
    objects_of = {s.id: s.objects for s in samples}
    cond = conditional_cooccurrence(samples)
    return [replace(r, meta={**r.meta, "cooccurrence": cooccurrence_strength(
                r.meta["object"], objects_of.get(r.sample_id, ()), cond)})
            if r.meta["label"] == "no" else r for r in requests]


def outcome(label: str, parsed: Parsed) -> int:
    """Index into COUNTS for one answered question."""
    if parsed.status != "ok":
        return UP if label == "yes" else UN
    if parsed.answer == "yes":
        return TP if label == "yes" else FP
    return FN if label == "yes" else TN


@PROBES.register("pope")
class PopeProbe(Task):
    """POPE object-existence polling on the scenes eval split, three negative settings.

    Metrics per setting and their mean over settings: accuracy, precision, recall, F1
    (yes = positive), yes_ratio (from the predictions), false_positive_rate, unparsed_rate;
    where the adapter scores options, ROC-AUC, average precision and ECE of P(yes) per setting;
    false-positive rate by absent object and by co-occurrence strength (fp/...), and the most
    hallucinated objects (probes/false_positive.py).
    Edge cases: a zero denominator (e.g. precision when the model never says yes) is NaN with
    n=0, never 0; unparsed and errored answers are never "yes" (see module docstring).
    CIs resample images, since the six questions about one image are correlated.
    """

    name = "pope"
    version = "1"
    headline = "mean/f1"
    reads_data = True
    lower_is_better = frozenset({"false_positive_rate", "unparsed_rate", "ece"})
    neutral = frozenset({"yes_ratio"})
    companions = ("mean/yes_ratio", "mean/false_positive_rate")

    def __init__(self, *, settings: Sequence[str] = SETTINGS, n_pos: int = 3, **common: Any) -> None:
        super().__init__(**common)
        unknown = [s for s in settings if s not in SETTINGS]
        if unknown:
            raise ConfigError(f"unknown POPE setting {unknown[0]!r} (valid: {', '.join(SETTINGS)})")
        self.settings = tuple(settings)
        self.n_pos = n_pos
        self._score_mode: dict[tuple, Any] = {}
        self._is_instances: bool | None = None
        self._samples: list[Sample] | None = None
        # The settings the plan holds: all configured ones on the built-in world; for --data,
        # those its questions hold (set by requests(), or by restore() when rescoring).
        self._planned: list[str] | None = list(self.settings) if self.data is None else None

    def args(self) -> dict[str, Any]:
        source = "scenes:eval" if self.data is None else str(self.data)
        return {**super().args(), "settings": list(self.settings), "n_pos": self.n_pos,
                "source": source}

    @classmethod
    def scoring_kwargs(cls, args: Mapping[str, Any]) -> dict[str, Any]:
        return {**super().scoring_kwargs(args), "settings": args["settings"], "n_pos": args["n_pos"]}

    def scoring_inputs(self) -> dict[str, Any]:
        """The settings the plan holds, in order (a question file holds one of them)."""
        assert self._planned is not None, "scoring_inputs() before requests()"
        return {"settings": list(self._planned)}

    def restore(self, scoring: Mapping[str, Any]) -> None:
        self._planned = list(scoring["settings"])

    def comparable_inputs(self) -> dict[str, Any]:
        return {}  # the settings a run holds only say which requests it has

    def _instances(self) -> bool:
        """--data is a COCO instances JSON (POPE is built from it), not ready-made questions."""
        if self._is_instances is None:
            self._is_instances = (self.data is not None and self.data.suffix == ".json"
                                  and not is_json_lines(self.data)
                                  and coco.is_instances(read_json(self.data)))
        return self._is_instances

    def samples(self) -> list[Sample]:
        """All selected images: frequencies, co-occurrence and the vocabulary come from these.
        COCO instances: 500 images drawn with the seed (the official sample size; --limit N
        draws N), as the reference builder does. Read once per probe."""
        if self._samples is None:
            self._samples = self._read_samples()
        return self._samples

    def _read_samples(self) -> list[Sample]:
        if self._instances():
            return coco.load_instances(self.data, self.images, self.n_pos,
                                       n_images=self.limit or 500, seed=self.seed)
        if self.data is not None:  # question files: the images and the objects asked as "yes"
            return positives_of(self._file_requests())
        return select_images(scenes_samples("eval"), min_objects=self.n_pos)

    def requests(self) -> list[Request]:
        """Questions about the first `limit` images of the full benchmark (all if no limit), so a
        limited run asks exactly the questions the full run asks about those images."""
        if self.data is not None and not self._instances():
            every = self._file_requests()  # --limit keeps the first N images' questions
            out, samples = first_units(every, self.limit), positives_of(every)
        else:
            out, samples = self._built_requests(), self.samples()
        present = {r.meta["setting"] for r in out}
        self._planned = [s for s in self.settings if s in present or self.data is None]
        self._planned += sorted(present - set(self._planned))
        return with_cooccurrence(out, samples)

    def _built_requests(self) -> list[Request]:
        samples = self.samples()
        keep = {s.id for s in samples[: self.limit]} if self.limit else {s.id for s in samples}
        out = []
        for setting in self.settings:
            rng = random.Random(f"pope-{setting}-{self.seed}")
            per_sample: Counter = Counter()
            for sample, obj, label in build_questions(samples, setting, self.n_pos, rng):
                if sample.id not in keep:
                    continue
                q = per_sample[sample.id]
                per_sample[sample.id] += 1
                out.append(Request(
                    task=self.name, request_id=f"{setting}/{sample.id}/{q}", sample_id=sample.id,
                    prompt=question(obj), image=sample.image, target=label,
                    options=("yes", "no"), max_new_tokens=8,
                    meta={"setting": setting, "object": obj, "label": label},
                ))
        return out

    def _file_requests(self) -> list[Request]:
        """Every question of a ready-made file (POPE's JSONL files, the HF POPE layout, a
        manifest): the setting from a `category`/`setting` field or the file name
        (coco_pope_random.json), the object from the question text."""
        assert self.data is not None
        named = next((s for s in SETTINGS if s in self.data.stem.lower()), "file")
        out = []
        for sample in load_samples(self.data, self.name, self.images):
            label = sample.fields["answers"][0].strip().lower()
            if label not in ("yes", "no"):
                raise DataError(f"{self.data}: item {sample.id} has label {label!r}; POPE "
                                f"labels are yes or no")
            unit = sample.fields.get("unit", sample.id)
            asked = _ASKED.search(sample.fields["question"])
            out.append(Request(
                task=self.name, request_id=sample.id, sample_id=unit,
                prompt=sample.fields["question"], image=sample.image, target=label,
                options=("yes", "no"), max_new_tokens=8,
                meta={"setting": sample.fields.get("category", sample.fields.get("setting", named)),
                      "object": asked.group(1).lower() if asked else "?", "label": label}))
        return out

    def parse(self, raw: str, policy: str) -> Parsed:
        return parse_yes_no(raw, policy)

    def verdict(self, record: dict[str, Any], parsed: Parsed) -> Verdict:
        which = COUNTS[outcome(record["meta"]["label"], parsed)]
        return Verdict(correct=which in ("tp", "tn"), outcome=which,
                       scores={"hallucinated": float(which == "fp")})

    def count_table(self, records: Sequence[dict[str, Any]], policy: str) -> CountTable:
        """Outcome counts (tp, fp, tn, fn, unparsed) per image and setting."""
        units = {sid: i for i, sid in enumerate(dict.fromkeys(r["sample_id"] for r in records))}
        settings = self.settings_in(records)
        counts = np.zeros((len(units), len(settings), len(COUNTS)))
        for r in records:
            parsed = self.read(r, policy)
            counts[units[r["sample_id"]], settings.index(r["meta"]["setting"]),
                   outcome(r["meta"]["label"], parsed)] += 1

        metrics, n_of = {}, {}
        for si, setting in enumerate(settings):
            for m in METRICS:
                metrics[f"{setting}/{m}"] = lambda s, si=si, m=m: _metrics_for(s[..., si, :])[m]
                n_of[f"{setting}/{m}"] = lambda s, si=si, m=m: _denominators(s[..., si, :])[m]
        for m in METRICS:
            metrics[f"mean/{m}"] = lambda s, m=m: np.mean(
                [_metrics_for(s[..., si, :])[m] for si in range(len(settings))], axis=0)
            n_of[f"mean/{m}"] = lambda s, m=m: sum(
                _denominators(s[..., si, :])[m] for si in range(len(settings)))
        return CountTable(list(units), counts, metrics, n_of)

    def settings_in(self, records: Sequence[dict[str, Any]]) -> list[str]:
        """The settings the plan held (scoring_inputs), then any others the records hold."""
        assert self._planned is not None, "scoring before requests() or restore()"
        present = {r["meta"]["setting"] for r in records}
        return self._planned + sorted(present - set(self._planned))

    def score(self, records: Sequence[dict[str, Any]], policy: str, seed: int) -> TaskScore:
        table = self.count_table(records, policy)
        settings, totals = self.settings_in(records), table.counts.sum(axis=0)
        scored = table.bootstrap(seed)
        fp = fp_breakdown(records, lambda r: self.read(r, policy), seed)
        scored.update({f"fp/{name}": m for name, m in fp["metrics"].items()})
        curves_by_setting = {}
        for setting in settings:
            key = (setting, tuple(r["request_id"] for r in records))
            if key not in self._score_mode:  # independent of the parsing policy: compute once
                self._score_mode[key] = score_mode(
                    [r for r in records if r["meta"]["setting"] == setting], seed)
            mode = self._score_mode[key]
            if mode is not None:
                scored.update({f"{setting}/{name}": m for name, m in mode["metrics"].items()})
                curves_by_setting[setting] = {"n_scored": mode["n_scored"], **mode["curves"]}
        columns = ["accuracy", "precision", "recall", "f1", "yes_ratio", "false_positive_rate"]
        sections = [
            report.metric_grid("per setting", settings, columns),
            report.bars("false-positive rate by object", "fp/by_object/", "false_positive_rate",
                        "false-positive rate (95% CI)"),
            report.bars("false-positive rate by co-occurrence with the image's objects",
                        "fp/by_cooccurrence/", "false_positive_rate", "false-positive rate (95% CI)")]
        if curves_by_setting:
            sections += [
                report.curves("ROC (yes-probability as the score)", "score_mode", ["roc", "fpr"],
                              ["roc", "tpr"], "false-positive rate", "true-positive rate"),
                report.curves("calibration (predicted vs observed yes)", "score_mode",
                              ["calibration", "predicted"], ["calibration", "observed"],
                              "predicted P(yes)", "observed frequency of yes")]
        sections += [report.table("most hallucinated objects", "most_hallucinated"),
                     report.details("false-positive breakdowns", "fp/")]
        return TaskScore(
            metrics=scored,
            sections=sections,
            counts={s: dict(zip(COUNTS, map(int, totals[i]))) for i, s in enumerate(settings)},
            most_hallucinated=fp["most_hallucinated"],
            cooccurrence_cuts=fp["cooccurrence_cuts"],
            score_mode=curves_by_setting or None,
            n_images=len(table.units),
        )
