"""POPE score mode at scale (issue 25): ROC-AUC, average precision and ECE with 1,000 bootstrap
resamples over images, on generated records: time and the peak of memory Python allocates
(tracemalloc) for 10k and 100k questions, with two score levels (a confident model: the
baselines' case) and with every score distinct (a real model's). Prints a table and writes
JSON.

    OMP_NUM_THREADS=1 .venv/bin/python bench/score_mode.py [--tree DIR] [--json FILE]

--tree DIR measures an earlier checkout (bench/trees.py). The metric values are printed too,
so two trees can be compared for equality.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

CASES = (("two levels", 10_000, 200), ("two levels", 100_000, 200),
         ("distinct", 10_000, 200), ("distinct", 100_000, 2_000))


def records(kind: str, n: int, images: int) -> list[dict]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        label = "yes" if rng.random() < 0.5 else "no"
        if kind == "two levels":
            sure = rng.random() < 0.9
            lp = [-0.001, -6.9] if (label == "yes") == sure else [-6.9, -0.001]
        else:
            a = float(rng.normal() + (0.8 if label == "yes" else -0.8))
            lp = [a, -a]
        out.append({"option_logprobs": lp, "options": ["yes", "no"], "meta": {"label": label},
                    "sample_id": f"img{i % images:05d}"})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, help="an earlier checkout to measure instead")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.tree:
        sys.path.insert(0, str(Path(__file__).parent))
        import trees

        trees.use(args.tree)
    from vlmeval.probes.false_positive import score_mode

    import sklearn.metrics  # noqa: F401  (imported before timing: its import is not the work)
    import sklearn.calibration  # noqa: F401

    rows = []
    for kind, n, images in CASES:
        data = records(kind, n, images)
        tracemalloc.start()
        start = time.perf_counter()
        out = score_mode(data, seed=0)
        wall = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        metrics = {k: [m.value, m.ci_low, m.ci_high] for k, m in out["metrics"].items()}
        rows.append({"scores": kind, "questions": n, "images": images, "wall_s": round(wall, 2),
                     "peak_mb": round(peak / 1e6, 1), "metrics": metrics})
        print(f"{kind:10s} {n:>7,} questions {images:>5,} images  {wall:6.2f} s  "
              f"{peak / 1e6:6.1f} MB traced peak  auc {metrics['roc_auc']}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
