"""Where a run's time goes (issue 25): the main job measured from the inside. Prints a table and
writes JSON.

    .venv/bin/python bench/harness.py [--model zoo:scenes-mlp2x_gelu] [--suite hallucination]
                                      [--threads 1] [--scale 1000,10000] [--tree DIR] [--json FILE]

Figures, for one run of the suite in this process (run directory in a temporary folder):
- wall: the whole `vlmeval run` (plan, model load, computing, scoring, report);
- computing: the batches (runner.run_task), and within it the adapter's calls (runner.predict):
  harness share = the part of the wall spent outside adapter calls;
- samples/s while computing; encoder calls per distinct image (native adapter's counter);
  answers copied: requests that repeat an earlier one of the run, not computed again;
- LM tokens: positions through the language model (batch x length of every forward call,
  padding included), and the FLOP floor: 2 x the LM's non-embedding parameters per position
  plus 2 x the vision encoder's parameters per patch per encoder call, at this machine's
  measured float32 matmul rate on the same thread count (a lower bound: attention and the
  connector are left out);
- `vlmeval --help` time; with --scale, bench/scale.py's wall time, peak RSS and report size
  for POPE question files of those sizes (baseline:oracle, each in its own process);
- lmms-eval on the same job where it is installed (it is not here: the row says so).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def matmul_rate(threads: int, n: int = 512, repeat: int = 20) -> float:
    """float32 FLOP/s of an n x n matmul on `threads` threads (best of `repeat`)."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="zoo:scenes-mlp2x_gelu")
    parser.add_argument("--suite", default="hallucination")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--scale", default="", help="also run bench/scale.py at these sizes")
    parser.add_argument("--tree", type=Path, help="measure this source tree (an earlier "
                                                  "checkout) instead of this one")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    if args.tree:
        import trees

        trees.use(args.tree)
    from timing import timed

    from vlmeval import runner
    from vlmeval.adapters import resolve_model

    torch.set_num_threads(args.threads)
    adapter = resolve_model(args.model)
    spent = {"computing": 0.0, "adapter": 0.0}
    runner.run_task = timed(spent, "computing", runner.run_task)
    runner.predict = timed(spent, "adapter", runner.predict)
    flops = {"lm_positions": 0, "encoder_calls_at_start": getattr(adapter, "encoder_calls", 0)}
    model = getattr(adapter, "model", None)
    native = model is not None and hasattr(model, "lm") and hasattr(model, "vision")
    if native:
        forward = model.forward

        def counted(input_ids, *a, **k):
            flops["lm_positions"] += int(input_ids.numel())
            return forward(input_ids, *a, **k)

        model.forward = counted
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = runner.run(runner.RunConfig(model=args.model, suite=args.suite, out=Path(tmp) / "run",
                                             quiet=True), adapter)
        wall = time.perf_counter() - start
        plans = json.loads((Path(tmp) / "run" / "run.json").read_text())
    requests = sum(t["n_requests"] for t in plans["tasks"])
    row = {"tree": str(args.tree or ROOT), "model": args.model, "suite": args.suite,
           "threads": args.threads,
           "requests": requests, "wall_s": round(wall, 2),
           "computing_s": round(spent["computing"], 2), "adapter_s": round(spent["adapter"], 2),
           "harness_share": round(1 - spent["adapter"] / wall, 3),
           "samples_per_s_computing": round(requests / spent["computing"], 1),
           "status": result.status,
           "answers_copied": plans["attempts"][-1].get("answers_copied", 0)}
    if native:
        lm = model.lm
        embed = sum(p.numel() for n, p in lm.named_parameters() if "embed" in n or "head" in n)
        lm_params = sum(p.numel() for p in lm.parameters()) - embed
        vision_params = sum(p.numel() for p in model.vision.parameters())
        encoder_calls = adapter.encoder_calls - flops["encoder_calls_at_start"]
        total = (2 * lm_params * flops["lm_positions"]
                 + 2 * vision_params * model.cfg.vision.n_patches * encoder_calls)
        rate = matmul_rate(args.threads)
        row.update(lm_positions=flops["lm_positions"], encoder_calls=encoder_calls,
                   flop_floor_tflop=round(total / 1e12, 3), matmul_gflops=round(rate / 1e9, 1),
                   flop_floor_s=round(total / rate, 2),
                   wall_over_floor=round(wall / (total / rate), 1))
    spec = importlib.util.find_spec("lmms_eval")
    row["lmms_eval"] = "installed: not yet wired" if spec else "not installed: skipped"

    import scale

    row["help_s"] = scale.help_time()
    if args.scale:
        with tempfile.TemporaryDirectory() as tmp:
            row["scale"] = [scale.run_size(Path(tmp), int(n)) for n in args.scale.split(",")]
    width = max(map(len, row))
    for key, value in row.items():
        print(f"{key:<{width}}  {value}")
    if args.json:
        args.json.write_text(json.dumps(row, indent=2) + "\n")


if __name__ == "__main__":
    main()
