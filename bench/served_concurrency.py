"""Requests per second through a served model at concurrency 1 and 8 (issue 24).

A tiny LLaVA is served by `transformers serve` on 127.0.0.1; a proxy in front of it adds
200 ms to every request, as a network and a busy server do. `vlmeval run --tasks pope` goes
through the proxy with --max-concurrency 1 and 8, alternating, ROUNDS times each; the figure is
completed requests per second of the whole run (planning, images, HTTP, writing the samples).
Two ways: "served", every request computed by the server (which runs one generation at a
time: its compute caps the rate), and "replayed", the proxy answering each request from the
answer the server gave it before (the server idle: the harness and the 200 ms alone). With
200 ms per request, replayed concurrency 8 should be close to 8x concurrency 1 unless the
harness is the bottleneck.

    OMP_NUM_THREADS=1 .venv/bin/python bench/served_concurrency.py [--limit 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hf_families import FAMILIES  # noqa: E402
from served import FaultProxy, Server  # noqa: E402

from vlmeval.cli import main as vlmeval  # noqa: E402

LATENCY_S = 0.2


def one_run(checkpoint: Path, url: str, out: Path, concurrency: int, limit: int) -> tuple[float, int]:
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the results table
        code = vlmeval(["run", "--model", f"openai:{checkpoint}", "--base-url", f"{url}/v1",
                        "--tasks", "pope", "--limit", str(limit), "--max-concurrency",
                        str(concurrency), "--out", str(out), "-q"])
    seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"vlmeval run exited {code}")
    results = json.loads((out / "results.json").read_text())["tasks"]["pope"]
    if results["errors"]:
        raise SystemExit(f"{results['errors']} requests failed")
    return seconds, results["n_requests"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=4, help="POPE --limit (4: 72 requests)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "llava"
        checkpoint.mkdir()
        FAMILIES["llava"](checkpoint)
        server = Server(checkpoint).start()
        try:
            with FaultProxy(server.url, latency_s=LATENCY_S, replay=True) as proxy:
                medians = {}
                for mode in ("served", "replayed"):
                    proxy.replay = mode == "replayed"
                    if proxy.replay:  # a first run stores the server's answers
                        one_run(checkpoint, proxy.url, Path(tmp) / "warm-up", 8, args.limit)
                    rates: dict[int, list[float]] = {1: [], 8: []}
                    for r in range(args.rounds):
                        for concurrency in (1, 8):
                            out = Path(tmp) / f"run-{mode}-{r}-{concurrency}"
                            seconds, n = one_run(checkpoint, proxy.url, out, concurrency, args.limit)
                            rates[concurrency].append(n / seconds)
                            print(f"{mode:<8}  round {r + 1}  concurrency {concurrency}  {n} "
                                  f"requests  {seconds:6.2f} s  {n / seconds:6.2f} requests/s",
                                  flush=True)
                    medians[mode] = (median(rates[1]), median(rates[8]))
        finally:
            server.stop()
    for mode, (one, eight) in medians.items():
        print(f"{mode:<8}  median requests/s: concurrency 1 {one:.2f}, concurrency 8 {eight:.2f}, "
              f"ratio {eight / one:.2f}x")
    print(f"({LATENCY_S * 1000:.0f} ms added per request; target: replayed ratio at least 6x)")


if __name__ == "__main__":
    main()
