"""Confidence intervals for metrics computed from per-unit count vectors.

A metric here is a function of summed counts (e.g. TP, FP, TN, FN), vectorised over leading
axes, so the point estimate and every bootstrap resample go through the same code. Units are
resampled whole (a unit is an image in POPE, whose questions are correlated), a cluster
bootstrap with the percentile interval.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from vlmeval.records import Metric

NAN = float("nan")
CountMetric = Callable[[np.ndarray], np.ndarray]


def bootstrap_metrics(
    unit_counts: np.ndarray,
    metrics: dict[str, CountMetric],
    n_of: dict[str, CountMetric],
    *,
    seed: int,
    n_resamples: int = 1000,
    level: float = 0.95,
    chunk: int = 100,
) -> dict[str, Metric]:
    """Point estimates and percentile CIs for several metrics over the same resamples.

    unit_counts: (U, ...) counts per unit; each metric maps summed counts (..., *shape) to values.
    n_of: for each metric, the size of its denominator (so n is honest: precision's n is the
    number of yes answers, not the number of questions).
    Resamples on which a metric is undefined (0/0) are left out of its interval; a metric
    undefined on the full data is NaN with NaN CI.
    """
    unit_counts = np.asarray(unit_counts, dtype=np.float64)
    units = unit_counts.shape[0]
    total = unit_counts.sum(axis=0)
    values = {name: float(fn(total)) for name, fn in metrics.items()}
    sizes = {name: int(n_of[name](total)) for name in metrics}
    if units == 0:
        return {name: Metric(NAN, NAN, NAN, 0) for name in metrics}

    rng = np.random.default_rng(seed)
    draws: dict[str, list[np.ndarray]] = {name: [] for name in metrics}
    for start in range(0, n_resamples, chunk):
        b = min(chunk, n_resamples - start)
        # Resampling with replacement = multinomial weights over units; (b, U) @ (U, k).
        weights = rng.multinomial(units, np.full(units, 1.0 / units), size=b).astype(np.float64)
        sums = np.tensordot(weights, unit_counts, axes=(1, 0))
        for name, fn in metrics.items():
            draws[name].append(fn(sums))

    tail = (1.0 - level) / 2.0 * 100.0
    out = {}
    for name in metrics:
        sample = np.concatenate(draws[name])
        sample = sample[np.isfinite(sample)]
        value = values[name]
        if not np.isfinite(value) or sample.size == 0:
            out[name] = Metric(value if np.isfinite(value) else NAN, NAN, NAN, sizes[name])
            continue
        low, high = np.percentile(sample, [tail, 100.0 - tail])
        out[name] = Metric(value, float(low), float(high), sizes[name])
    return out


def safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with NaN where den is 0 (undefined, not zero)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
