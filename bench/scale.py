"""How a run scales with its number of requests (issue 25): wall time, peak memory and report
size for POPE question files of 1k, 10k and 100k questions, run with `baseline:oracle` (no
model cost: what is left is the harness), plus `vlmeval --help` time. Prints a table and
writes JSON.

    .venv/bin/python bench/scale.py [--sizes 1000,10000,100000] [--json bench/scale.json]

The question files are POPE's own format (JSON lines of question_id, image, text, label) over
200 generated PNG images; each size runs in its own process (peak RSS is that process's).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

OBJECTS = ("dog", "cat", "car", "chair", "cup", "bottle", "person", "bird", "book", "clock")
N_IMAGES = 200


def write_pope(folder: Path, n: int) -> Path:
    images = folder / "images"
    images.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(N_IMAGES):
        path = images / f"img{i:04d}.png"
        if not path.exists():
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
    questions = folder / f"pope_{n}.json"
    with questions.open("w") as f:
        for q in range(n):
            obj = OBJECTS[q % len(OBJECTS)]
            f.write(json.dumps({"question_id": q, "image": f"img{q % N_IMAGES:04d}.png",
                                "text": f"Is there a {obj} in the image?",
                                "label": "yes" if (q // len(OBJECTS)) % 2 else "no"}) + "\n")
    return questions


def run_size(folder: Path, n: int) -> dict:
    questions = write_pope(folder, n)
    out = folder / f"run_{n}"
    code = (
        "import resource, sys, time; t = time.perf_counter(); from vlmeval.cli import main; "
        f"rc = main(['run', '--model', 'baseline:oracle', '--tasks', 'pope', '--data', "
        f"{str(questions)!r}, '--images', {str(folder / 'images')!r}, '--out', {str(out)!r}, '-q']); "
        "print('WALL', time.perf_counter() - t); "
        "print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{n}: exit {done.returncode}: {done.stderr[-2000:]}")
    values = dict(line.split() for line in done.stdout.splitlines() if line.startswith(("WALL", "RSS")))
    return {"requests": n, "wall_s": round(float(values["WALL"]), 2),
            "peak_rss_mib": round(int(values["RSS"]) / 1024, 1),
            "report_mb": round((out / "report.html").stat().st_size / 1e6, 2)}


def help_time() -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "vlmeval", "--help"], capture_output=True, check=True)
        best = min(best, time.perf_counter() - start)
    return round(best, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in map(int, args.sizes.split(",")):
            rows.append(run_size(Path(tmp), n))
            r = rows[-1]
            print(f"{r['requests']:>7} requests  {r['wall_s']:7.2f} s  {r['peak_rss_mib']:7.1f} MiB "
                  f"peak RSS  report {r['report_mb']:6.2f} MB", flush=True)
    figures = {"sizes": rows, "help_s": help_time()}
    if len(rows) > 1:
        figures["time_ratio_last_to_previous"] = round(rows[-1]["wall_s"] / rows[-2]["wall_s"], 2)
        figures["rss_ratio_last_to_previous"] = round(rows[-1]["peak_rss_mib"] / rows[-2]["peak_rss_mib"], 2)
    print(f"vlmeval --help: {figures['help_s']} s (best of 3)")
    if len(rows) > 1:
        print(f"last/previous size: time x{figures['time_ratio_last_to_previous']}, "
              f"peak RSS x{figures['rss_ratio_last_to_previous']}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
