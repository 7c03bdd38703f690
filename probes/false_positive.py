"""False-positive breakdowns and score-mode curves for yes/no object probes (POPE).

- false_positive_rate by absent-object category, and by how strongly the absent object
  co-occurs with the objects present: strength = max over present objects p of P(absent | p),
  counted over the probe's images (the statistic POPE's adversarial setting ranks by), cut into
  low / mid / high at its terciles; the objects a model hallucinates most.
- score mode: where the adapter scored the options, P(yes) = p(yes) / (p(yes) + p(no)) per
  question gives ROC-AUC, average precision (area under the precision-recall curve) and the
  expected calibration error (10 equal-width bins), with the curves for reports, from
  scikit-learn.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from vlmeval.records import Metric, Parsed, Sample
from vlmeval.stats import bootstrap_metrics, safe_ratio

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

BUCKETS = ("low", "mid", "high")
CALIBRATION_BINS = 10


def conditional_cooccurrence(samples: Sequence[Sample]) -> dict[str, dict[str, float]]:
    """P(b | a): the share of images holding a that also hold b."""
    holding = Counter(o for s in samples for o in set(s.objects))
    both: dict[str, Counter] = defaultdict(Counter)
    for s in samples:
        for a in set(s.objects):
            for b in set(s.objects) - {a}:
                both[a][b] += 1
    return {a: {b: n / holding[a] for b, n in both[a].items()} for a in holding}


def negatives(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["meta"]["label"] == "no"]


def cooccurrence_strength(absent: str, present: Sequence[str],
                          cond: dict[str, dict[str, float]]) -> float:
    """max over present objects p of P(absent | p); 0 when nothing is present."""
    return max((cond.get(p, {}).get(absent, 0.0) for p in present), default=0.0)


def fp_breakdown(records: Sequence[dict[str, Any]], read: Callable[[dict[str, Any]], Parsed],
                 seed: int) -> dict[str, Any]:
    """Metrics (by object, by co-occurrence bucket) and the most hallucinated objects.
    Each negative record carries its co-occurrence strength in meta (set when planned)."""
    neg = negatives(records)
    strength = np.array([r["meta"]["cooccurrence"] for r in neg], dtype=np.float64)
    cuts = np.quantile(strength, [1 / 3, 2 / 3]) if len(neg) else np.array([np.nan, np.nan])
    bucket = np.searchsorted(cuts, strength, side="right") if len(neg) else np.array([], int)
    categories = sorted({r["meta"]["object"] for r in neg})
    groups = [*(f"by_object/{c}" for c in categories), *(f"by_cooccurrence/{b}" for b in BUCKETS)]
    index = {g: i for i, g in enumerate(groups)}
    units = {sid: i for i, sid in enumerate(dict.fromkeys(r["sample_id"] for r in neg))}
    counts = np.zeros((len(units), len(groups), 2))  # negatives asked, said yes
    said_yes = Counter()
    for r, b in zip(neg, bucket):
        yes = read(r).answer == "yes"
        said_yes[r["meta"]["object"]] += yes
        for g in (f"by_object/{r['meta']['object']}", f"by_cooccurrence/{BUCKETS[b]}"):
            counts[units[r["sample_id"]], index[g]] += (1, yes)
    metrics = {f"{g}/false_positive_rate": (lambda s, i=i: safe_ratio(s[..., i, 1], s[..., i, 0]))
               for i, g in enumerate(groups)}
    n_of = {f"{g}/false_positive_rate": (lambda s, i=i: s[..., i, 0]) for i, g in enumerate(groups)}
    asked = Counter(r["meta"]["object"] for r in neg)
    return {
        "metrics": bootstrap_metrics(counts, metrics, n_of, seed=seed),
        "most_hallucinated": [{"object": o, "false_positives": n, "asked": asked[o],
                               "rate": n / asked[o]}
                              for o, n in said_yes.most_common(10) if n],
        "cooccurrence_cuts": [None if c != c else float(c) for c in cuts],
    }


def p_yes(record: dict[str, Any]) -> float | None:
    """P(yes) renormalised over the two options, or None when the request was not scored."""
    lp = record.get("option_logprobs")
    if not lp or list(record["options"][:2]) != ["yes", "no"]:
        return None
    yes, no = lp[0], lp[1]
    top = max(yes, no)
    return float(np.exp(yes - top) / (np.exp(yes - top) + np.exp(no - top)))


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray) -> float:
    """Sum over 10 equal-width bins of |accuracy - confidence| weighted by the bin's share."""
    bins = _bins(probs)  # bincount sums each bin in item order
    count = np.bincount(bins, minlength=CALIBRATION_BINS)
    hits = np.bincount(bins, weights=labels, minlength=CALIBRATION_BINS)
    conf = np.bincount(bins, weights=probs, minlength=CALIBRATION_BINS)
    return float(np.abs(hits - conf).sum() / count.sum()) if len(probs) else float("nan")


def _bins(probs: np.ndarray) -> np.ndarray:
    return np.minimum((probs * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)


def weighted_curves(labels: np.ndarray, probs: np.ndarray, weights: np.ndarray,
                    unit: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """ROC-AUC, average precision and ECE for each row of weights (B, U) at once: the
    bootstrap's resamples as multiplicities of the units the items belong to (unit: each
    item's unit; default, each item its own). With unit weights they equal scikit-learn's
    roc_auc_score and average_precision_score (tests check); sklearn gives the point values."""
    return UnitCurves(labels, probs, np.arange(len(labels)) if unit is None else unit)(weights)


class UnitCurves:
    """weighted_curves for one set of items and many weight rows. The items are summed once
    per (unit, score level) and (unit, calibration bin), in item order; a row of unit weights
    is then a product with those sparse tables (scipy.sparse's loops sum in a fixed order: a
    BLAS matmul's last digits moved with its thread count, so a run and a rescore of its
    directory differed). Nothing is items x resamples (100k questions x 100 resamples held
    80 MB per array) or items x levels (N^2 when every score is distinct)."""

    def __init__(self, labels: np.ndarray, probs: np.ndarray, unit: np.ndarray):
        n_units = int(unit.max()) + 1 if len(unit) else 0
        levels, level = np.unique(probs, return_inverse=True)  # ascending score levels
        bins = _bins(probs)
        self.size = max(n_units, len(levels))  # the widest array one weight row makes
        by_level, by_bin = (n_units, len(levels)), (n_units, CALIBRATION_BINS)
        self.pos = _unit_sums(unit, level, labels, by_level)  # positives per unit and level
        self.neg = _unit_sums(unit, level, 1 - labels, by_level)
        self.count = _unit_sums(unit, bins, np.ones_like(probs), by_bin)
        self.hits = _unit_sums(unit, bins, labels, by_bin)
        self.conf = _unit_sums(unit, bins, probs, by_bin)

    def __call__(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        # (B, L): weight per score level, in C order (a row's sums add as they do over items)
        pos, neg = (np.ascontiguousarray(weights @ table) for table in (self.pos, self.neg))
        n_pos, n_neg = pos.sum(1), neg.sum(1)
        below = np.cumsum(neg, axis=1) - neg  # negatives scored strictly lower
        with np.errstate(invalid="ignore", divide="ignore"):
            auc = (pos * (below + 0.5 * neg)).sum(1) / (n_pos * n_neg)
            tp, fp = np.cumsum(pos[:, ::-1], 1), np.cumsum(neg[:, ::-1], 1)  # thresholds descending
            precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1e-300), 0.0)
            ap = (pos[:, ::-1] / n_pos[:, None] * precision).sum(1)
        auc = np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)
        ap = np.where((n_pos > 0) & (n_neg > 0), ap, np.nan)
        count, hits, conf = weights @ self.count, weights @ self.hits, weights @ self.conf
        total = count.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            ece = np.abs(hits - conf).sum(1) / total  # sum_b n_b/N |acc_b - conf_b|
        return {"roc_auc": auc, "average_precision": ap, "ece": np.where(total > 0, ece, np.nan)}


def _unit_sums(unit: np.ndarray, column: np.ndarray, values: np.ndarray,
               shape: tuple[int, int]) -> csr_matrix:
    """values summed per (unit, column) cell in item order, as a sparse (units, columns) table."""
    from scipy.sparse import csr_matrix

    order = np.lexsort((column, unit))  # stable: a cell's items stay in item order
    u, c, v = unit[order], column[order], np.asarray(values, dtype=np.float64)[order]
    first = np.flatnonzero(np.r_[True, (u[1:] != u[:-1]) | (c[1:] != c[:-1])]) if len(u) else u
    return csr_matrix((np.add.reduceat(v, first) if len(u) else v, (u[first], c[first])), shape=shape)


def score_mode(records: Sequence[dict[str, Any]], seed: int, n_resamples: int = 1000,
               level: float = 0.95) -> dict[str, Any] | None:
    """ROC-AUC, average precision and ECE with CIs (resampling images) and the curves; None if
    no record was scored."""
    probs = np.fromiter((np.nan if (p := p_yes(r)) is None else p for r in records),
                        dtype=np.float64, count=len(records))
    scored = np.flatnonzero(~np.isnan(probs))
    if not len(scored):
        return None
    # scikit-learn takes 0.9 s to import: only runs with option scores pay for it.
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import (average_precision_score, precision_recall_curve, roc_auc_score,
                                 roc_curve)

    probs = probs[scored]
    labels = np.fromiter((records[i]["meta"]["label"] == "yes" for i in scored), dtype=np.float64,
                         count=len(scored))
    names = {s: i for i, s in enumerate(sorted({records[i]["sample_id"] for i in scored}))}
    unit = np.fromiter((names[records[i]["sample_id"]] for i in scored), dtype=np.intp,
                       count=len(scored))
    both = 0 < labels.sum() < len(labels)
    values = {"roc_auc": roc_auc_score(labels, probs) if both else np.nan,
              "average_precision": average_precision_score(labels, probs) if both else np.nan,
              "ece": expected_calibration_error(labels, probs)}
    rng = np.random.default_rng(seed)
    draws: dict[str, list[np.ndarray]] = {k: [] for k in values}
    n_units, curves_of = len(names), UnitCurves(labels, probs, unit)
    # At most 500k values per array a chunk of resamples makes (4 MB: resamples x units or
    # x score levels). The generator gives the same rows in the same order whatever the chunk.
    chunk = max(1, min(100, 500_000 // curves_of.size))
    for start in range(0, n_resamples, chunk):
        b = min(chunk, n_resamples - start)
        counts = rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=b)
        for name, v in curves_of(counts.astype(float)).items():
            draws[name].append(v)
    tail = (1.0 - level) / 2.0 * 100.0
    metrics = {}
    for name, value in values.items():
        sample = np.concatenate(draws[name])
        sample = sample[np.isfinite(sample)]
        low, high = (np.percentile(sample, [tail, 100.0 - tail]) if sample.size and np.isfinite(value)
                     else (np.nan, np.nan))
        metrics[name] = Metric(float(value), float(low), float(high), len(scored))
    curves = {}
    if both:
        fpr, tpr, _ = roc_curve(labels, probs)
        precision, recall, _ = precision_recall_curve(labels, probs)
        observed, predicted = calibration_curve(labels, probs, n_bins=CALIBRATION_BINS)
        curves = {"roc": {"fpr": _round(fpr), "tpr": _round(tpr)},
                  "pr": {"precision": _round(precision), "recall": _round(recall)},
                  "calibration": {"predicted": _round(predicted), "observed": _round(observed)}}
    return {"metrics": metrics, "curves": curves, "n_scored": len(scored)}


def _round(values: np.ndarray, points: int = 200) -> list[float]:
    """At most `points` values (evenly spaced picks, ends kept) so run files stay small."""
    if len(values) > points:
        values = values[np.unique(np.linspace(0, len(values) - 1, points).round().astype(int))]
    return [float(v) for v in values]
