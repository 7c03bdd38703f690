"""A run over photo-sized images (what a user's own question file brings, unlike the built-in
64 px scenes): POPE questions over generated 640 x 480 JPEGs, 6 per image, on a vlmeval
checkpoint. Prints the whole run's wall time and the part spent writing the report (whose
thumbnails decode and encode every distinct image) for this source tree and, with --tree,
another one (a checkout of an earlier commit), alternating; writes JSON.

    git worktree add /tmp/vlmeval-old <commit>
    .venv/bin/python bench/photos.py [--tree /tmp/vlmeval-old] [--images 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from timing import alternating  # bench/, this script's folder

ROOT = Path(__file__).resolve().parents[1]
OBJECTS = ("dog", "cat", "car", "chair", "cup", "bottle")

DRIVER = """
import sys, time
sys.path.insert(0, BENCH)
import trees
trees.use(TREE)
import vlmeval.reports.render as render
from timing import timed
spent = {'REPORT': 0.0}
render.write_report = timed(spent, 'REPORT', render.write_report)
from vlmeval.cli import main
t = time.perf_counter()
rc = main(sys.argv[1:])
print('WALL', time.perf_counter() - t)
print('REPORT', spent['REPORT'])
sys.exit(rc)
"""


def world(folder: Path, n_images: int) -> tuple[Path, Path]:
    """Photo-like JPEGs (smooth colour noise, quality 90) and a POPE question file over them."""
    images = folder / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    questions = folder / "pope.jsonl"
    with questions.open("w") as f:
        for i in range(n_images):
            small = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
            Image.fromarray(small).resize((640, 480), Image.BICUBIC).save(
                images / f"{i:06d}.jpg", quality=90)
            for j, obj in enumerate(OBJECTS):
                f.write(json.dumps({"question_id": i * len(OBJECTS) + j, "image": f"{i:06d}.jpg",
                                    "text": f"Is there a {obj} in the image?",
                                    "label": "yes" if (i + j) % 2 else "no"}) + "\n")
    return questions, images


def run(tree: Path, model: str, questions: Path, images: Path, out: Path) -> dict:
    driver = DRIVER.replace("BENCH", repr(str(ROOT / "bench"))).replace("TREE", repr(str(tree)))
    done = subprocess.run(
        [sys.executable, "-c", driver, "run", "--model", model, "--tasks", "pope", "--data",
         str(questions), "--images", str(images), "--out", str(out), "-q"],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if done.returncode != 0:
        raise SystemExit(f"{tree}: exit {done.returncode}: {done.stderr[-2000:]}")
    values = dict(line.split() for line in done.stdout.splitlines()
                  if line.startswith(("WALL", "REPORT")))
    return {"wall_s": float(values["WALL"]), "report_s": float(values["REPORT"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, help="an earlier source tree to compare against")
    parser.add_argument("--model", default="zoo:scenes-mlp2x_gelu")
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    trees = {"now": ROOT, **({"old": args.tree.resolve()} if args.tree else {})}
    results: dict[str, list[dict]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as tmp:
        questions, images = world(Path(tmp), args.images)
        for k, name, tree in alternating(trees, args.rounds):
            r = run(tree, args.model, questions, images, Path(tmp) / f"{name}{k}")
            results[name].append(r)
            print(f"round {k} {name:>4}: run {r['wall_s']:6.2f} s, report {r['report_s']:5.2f} s",
                  flush=True)
    figures = {"images": args.images, "requests": args.images * len(OBJECTS), "model": args.model}
    for name, rows in results.items():
        figures[name] = {f"median_{k}": round(statistics.median(r[k] for r in rows), 2)
                         for k in ("wall_s", "report_s")}
        print(f"{name:>4}: median run {figures[name]['median_wall_s']:.2f} s, "
              f"report {figures[name]['median_report_s']:.2f} s")
    if "old" in figures:
        figures["speedup_over_old"] = round(
            figures["old"]["median_wall_s"] / figures["now"]["median_wall_s"], 2)
        print(f"old / now wall: {figures['speedup_over_old']}x")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
