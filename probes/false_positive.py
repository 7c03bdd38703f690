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
from typing import Any, Callable, Sequence

import numpy as np

from vlmeval.records import Metric, Parsed, Sample
from vlmeval.stats import bootstrap_metrics, safe_ratio

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
    return float(weighted_curves(labels, probs, np.ones((1, len(labels))))["ece"][0])


def weighted_curves(labels: np.ndarray, probs: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """ROC-AUC, average precision and ECE for each row of item weights (B, N) at once: the
    bootstrap's resamples as multiplicities. With unit weights they equal scikit-learn's
    roc_auc_score and average_precision_score (tests check); sklearn gives the point values."""
    levels, level = np.unique(probs, return_inverse=True)  # ascending score levels
    # Items sorted by level, then summed per level: (B, L) without an items x levels matrix
    # (which grows as N^2 when every score is distinct).
    order = np.argsort(level, kind="stable")
    starts = np.searchsorted(level[order], np.arange(len(levels)))
    pos = np.add.reduceat((weights * labels)[:, order], starts, axis=1)  # positive weight per level
    neg = np.add.reduceat((weights * (1 - labels))[:, order], starts, axis=1)
    n_pos, n_neg = pos.sum(1), neg.sum(1)
    below = np.cumsum(neg, axis=1) - neg  # negatives scored strictly lower
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (pos * (below + 0.5 * neg)).sum(1) / (n_pos * n_neg)
        tp, fp = np.cumsum(pos[:, ::-1], 1), np.cumsum(neg[:, ::-1], 1)  # thresholds descending
        precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1e-300), 0.0)
        ap = (pos[:, ::-1] / n_pos[:, None] * precision).sum(1)
    auc = np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)
    ap = np.where((n_pos > 0) & (n_neg > 0), ap, np.nan)
    bins = np.minimum((probs * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    # Per-bin sums in item order, not a matmul with a one-hot matrix: BLAS sums in an order
    # that depends on where the arrays sit in memory, so a run's results.json and a rescore of
    # its directory differed in the 16th digit of ECE's CI bounds.
    by_bin = np.argsort(bins, kind="stable")
    present, first = np.unique(bins[by_bin], return_index=True)

    def per_bin(values: np.ndarray) -> np.ndarray:
        out = np.zeros((values.shape[0], CALIBRATION_BINS))
        out[:, present] = np.add.reduceat(values[:, by_bin], first, axis=1)
        return out

    count, hits, conf = per_bin(weights), per_bin(weights * labels), per_bin(weights * probs)
    total = count.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ece = np.abs(hits - conf).sum(1) / total  # sum_b n_b/N |acc_b - conf_b|
    return {"roc_auc": auc, "average_precision": ap, "ece": np.where(total > 0, ece, np.nan)}


def score_mode(records: Sequence[dict[str, Any]], seed: int, n_resamples: int = 1000,
               level: float = 0.95) -> dict[str, Any] | None:
    """ROC-AUC, average precision and ECE with CIs (resampling images) and the curves; None if
    no record was scored."""
    scored = [(r, p) for r in records if (p := p_yes(r)) is not None]
    if not scored:
        return None
    # scikit-learn takes 0.9 s to import: only runs with option scores pay for it.
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import (average_precision_score, precision_recall_curve, roc_auc_score,
                                 roc_curve)

    labels = np.array([r["meta"]["label"] == "yes" for r, _ in scored], dtype=float)
    probs = np.array([p for _, p in scored])
    _, unit = np.unique([r["sample_id"] for r, _ in scored], return_inverse=True)
    both = 0 < labels.sum() < len(labels)
    values = {"roc_auc": roc_auc_score(labels, probs) if both else np.nan,
              "average_precision": average_precision_score(labels, probs) if both else np.nan,
              "ece": expected_calibration_error(labels, probs)}
    rng = np.random.default_rng(seed)
    draws: dict[str, list[np.ndarray]] = {k: [] for k in values}
    n_units = unit.max() + 1
    # Each resample weighs every item: at most 500k weights per chunk (4 MB; 100 resamples of
    # 100k questions would hold 80 MB per array, several at once). The generator gives the
    # same rows in the same order whatever the chunk.
    chunk = max(1, min(100, 500_000 // len(scored)))
    for start in range(0, n_resamples, chunk):
        b = min(chunk, n_resamples - start)
        counts = rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=b)
        for name, v in weighted_curves(labels, probs, counts[:, unit].astype(float)).items():
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
