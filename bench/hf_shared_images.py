"""The HF adapter when several questions share an image (issue 25): a tiny random-weight LLaVA
(tests/hf_families.py) on POPE questions, 6 per image, at the run command's defaults. Prints
samples/s while computing (the batches: model calls, records; not start-up, scoring or the
report) and vision-tower images per unique image for this source tree and, with --old, for
another one (a checkout of an earlier commit), alternating; writes JSON.

    git worktree add /tmp/vlmeval-old <commit>
    .venv/bin/python bench/hf_shared_images.py --old /tmp/vlmeval-old [--images 40] [--rounds 3]

Vision-tower images are counted by wrapping LlavaModel.get_image_features at class level
(rows of pixel_values that reach it), the same way for both trees.
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

ROOT = Path(__file__).resolve().parents[1]
OBJECTS = ("dog", "cat", "car", "chair", "cup", "bottle")

DRIVER = """
import sys, time
sys.path.insert(0, BENCH)
import trees
trees.use(".")  # the tree in the working directory, not an editable install, provides vlmeval
import transformers.models.llava.modeling_llava as m
rows = [0]
original = m.LlavaModel.get_image_features
def counted(self, pixel_values, *a, **k):
    rows[0] += int(pixel_values.shape[0])
    return original(self, pixel_values, *a, **k)
m.LlavaModel.get_image_features = counted
from vlmeval import runner
from timing import timed
spent = {'COMPUTE': 0.0, 'ADAPTER': 0.0}
runner.run_task = timed(spent, 'COMPUTE', runner.run_task)
runner.predict = timed(spent, 'ADAPTER', runner.predict)
from vlmeval.cli import main
t = time.perf_counter()
rc = main(sys.argv[1:])
print('WALL', time.perf_counter() - t)
print('ROWS', rows[0])
for name, value in spent.items():
    print(name, value)
sys.exit(rc)
"""


def world(folder: Path, n_images: int) -> tuple[Path, Path, Path]:
    sys.path.insert(0, str(ROOT / "tests"))
    import hf_families

    model = folder / "llava"
    hf_families.build_llava(model)
    images = folder / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    questions = folder / "pope.json"
    with questions.open("w") as f:
        for i in range(n_images):
            Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
                images / f"img{i:03d}.png")
            for j, obj in enumerate(OBJECTS):
                f.write(json.dumps({"question_id": i * len(OBJECTS) + j, "image": f"img{i:03d}.png",
                                    "text": f"Is there a {obj} in the image?",
                                    "label": "yes" if (i + j) % 2 else "no"}) + "\n")
    return model, questions, images


def run(tree: Path, model: Path, questions: Path, images: Path, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", DRIVER.replace("BENCH", repr(str(ROOT / "bench"))), "run", "--model", str(model), "--tasks", "pope", "--data",
         str(questions), "--images", str(images), "--out", str(out), "-q"],
        capture_output=True, text=True, env=env, cwd=tree)
    if done.returncode != 0:
        raise SystemExit(f"{tree}: exit {done.returncode}: {done.stderr[-2000:]}")
    values = dict(line.split() for line in done.stdout.splitlines()
                  if line.startswith(("WALL", "ROWS", "COMPUTE", "ADAPTER")))
    return {"wall_s": float(values["WALL"]), "compute_s": float(values["COMPUTE"]),
            "adapter_s": float(values["ADAPTER"]), "vision_rows": int(values["ROWS"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, help="an earlier source tree to compare against")
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    trees = {"now": ROOT, **({"old": args.old.resolve()} if args.old else {})}
    results: dict[str, list[dict]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as tmp:
        model, questions, images = world(Path(tmp), args.images)
        n = args.images * len(OBJECTS)
        for k in range(args.rounds):
            for name, tree in (trees.items() if k % 2 == 0 else reversed(trees.items())):
                r = run(tree, model, questions, images, Path(tmp) / f"{name}{k}")
                results[name].append(r)
                print(f"round {k} {name:>3}: run {r['wall_s']:5.2f} s, computing {r['compute_s']:5.2f} s "
                      f"({n / r['compute_s']:6.1f} samples/s; in adapter calls {r['adapter_s']:5.2f} s), "
                      f"vision-tower images {r['vision_rows']} for {args.images} unique", flush=True)
    figures = {"requests": n, "unique_images": args.images}
    for name, rows in results.items():
        median = {k: statistics.median(r[k] for r in rows) for k in ("wall_s", "compute_s", "adapter_s")}
        figures[name] = {**{f"median_{k}": round(v, 3) for k, v in median.items()},
                         "samples_per_s": round(n / median["compute_s"], 1),
                         "vision_images_per_unique": rows[0]["vision_rows"] / args.images}
        print(f"{name:>3}: median run {median['wall_s']:.2f} s, computing {median['compute_s']:.2f} s "
              f"= {n / median['compute_s']:.1f} samples/s, "
              f"{rows[0]['vision_rows'] / args.images:g} vision-tower images per unique image")
    if "old" in figures:
        figures["speedup"] = round(figures["old"]["median_compute_s"] / figures["now"]["median_compute_s"], 2)
        print(f"now / old samples/s while computing: {figures['speedup']}x")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
