"""Confidence intervals for metrics computed from per-unit count vectors.

A metric here is a function of summed counts (e.g. TP, FP, TN, FN), vectorised over leading
axes, so the point estimate and every bootstrap resample go through the same code. Units are
resampled whole (a unit is an image in POPE, whose questions are correlated), a cluster
bootstrap with the percentile interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

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
    # At most ~2M weights per chunk (16 MB): 100 resamples of 100k units would hold 160 MB.
    # The rows come from the generator in the same order whatever the chunk, so the
    # intervals do not depend on it.
    chunk = max(1, min(chunk, 2_000_000 // units))
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


@dataclass
class CountTable:
    """The per-unit counts behind a task's metrics: unit ids (rows of `counts`, e.g. image ids),
    counts (U, ...), and each metric as a function of summed counts with its denominator."""

    units: list[str]
    counts: np.ndarray
    metrics: dict[str, CountMetric]
    n_of: dict[str, CountMetric]

    def bootstrap(self, seed: int, n_resamples: int = 1000) -> dict[str, Metric]:
        return bootstrap_metrics(self.counts, self.metrics, self.n_of, seed=seed,
                                 n_resamples=n_resamples)

    def values(self) -> dict[str, float]:
        total = np.asarray(self.counts, dtype=np.float64).sum(axis=0)
        return {name: float(fn(total)) for name, fn in self.metrics.items()}


@dataclass(frozen=True)
class PairedDelta:
    """b - a on the same units; p: two-sided paired-bootstrap p-value (NaN when undefined)."""

    a: float
    b: float
    delta: float
    ci_low: float
    ci_high: float
    p: float
    n_units: int


def paired_bootstrap(a: CountTable, b: CountTable, *, seed: int, n_resamples: int = 2000,
                     level: float = 0.95) -> dict[str, PairedDelta]:
    """Paired cluster bootstrap of every metric the two tables share, over their shared units:
    each resample draws units once and scores both runs on the same draw. The p-value is
    2 x the smaller tail of the resampled deltas around 0, as (k + 1) / (B + 1), at most 1.
    Units only one table has are left out (the caller says so)."""
    shared = [u for u in a.units if u in set(b.units)]
    rows_a = np.asarray(a.counts, dtype=np.float64)[[a.units.index(u) for u in shared]] if shared else None
    index_b = {u: i for i, u in enumerate(b.units)}
    rows_b = np.asarray(b.counts, dtype=np.float64)[[index_b[u] for u in shared]] if shared else None
    names = [m for m in a.metrics if m in b.metrics]
    if not shared:
        return {m: PairedDelta(NAN, NAN, NAN, NAN, NAN, NAN, 0) for m in names}
    U = len(shared)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(U, np.full(U, 1.0 / U), size=n_resamples).astype(np.float64)
    sums_a = np.tensordot(weights, rows_a, axes=(1, 0))
    sums_b = np.tensordot(weights, rows_b, axes=(1, 0))
    total_a, total_b = rows_a.sum(axis=0), rows_b.sum(axis=0)
    tail = (1.0 - level) / 2.0 * 100.0
    out = {}
    for m in names:
        va, vb = float(a.metrics[m](total_a)), float(b.metrics[m](total_b))
        deltas = b.metrics[m](sums_b) - a.metrics[m](sums_a)
        deltas = deltas[np.isfinite(deltas)]
        if not (np.isfinite(va) and np.isfinite(vb)) or deltas.size == 0:
            out[m] = PairedDelta(va, vb, vb - va, NAN, NAN, NAN, U)
            continue
        low, high = np.percentile(deltas, [tail, 100.0 - tail])
        if np.all(deltas == 0):
            p = 1.0  # identical on every resample: no evidence of a difference
        else:  # (k + 1) / (B + 1): never 0 from a finite number of resamples
            k = min(int(np.sum(deltas <= 0)), int(np.sum(deltas >= 0)))
            p = min(1.0, 2.0 * (k + 1) / (deltas.size + 1))
        out[m] = PairedDelta(va, vb, vb - va, float(low), float(high), float(p), U)
    return out


def mcnemar(a_correct: Sequence[bool], b_correct: Sequence[bool]) -> dict[str, float]:
    """Exact McNemar test on paired per-sample correctness: only discordant pairs count
    (a right and b wrong, or the reverse); p is the two-sided binomial p-value at 1/2."""
    from scipy.stats import binomtest

    a_only = sum(1 for x, y in zip(a_correct, b_correct) if x and not y)
    b_only = sum(1 for x, y in zip(a_correct, b_correct) if y and not x)
    n = a_only + b_only
    p = float(binomtest(a_only, n, 0.5).pvalue) if n else 1.0
    return {"a_only": a_only, "b_only": b_only, "n": len(a_correct), "p": p}
