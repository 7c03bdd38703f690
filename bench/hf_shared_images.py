"""The HF adapter when several questions share an image (issue 25): a tiny random-weight LLaVA
(tests/hf_families.py) on POPE questions, 6 per image, at the run command's defaults. Prints
samples/s while computing (the batches: model calls, records; not start-up, scoring or the
report), vision-tower images per unique image and LM positions (batch x length, padding
included) for this source tree and, with --old, for another one (a checkout of an earlier
commit), alternating; writes JSON.

    git worktree add /tmp/vlmeval-old <commit>
    .venv/bin/python bench/hf_shared_images.py --old /tmp/vlmeval-old [--images 40] [--rounds 3]

--unshared adds this tree with `--model-arg shared_prefix=false` (each prompt's image prefix
computed in every request's prefill) to the alternation, --prefetched this tree with
`--model-arg prefetch=true` (the next batch's inputs built in a background thread); --wide
builds a LLaVA with LLaVA-1.5's proportions (576 image tokens a prompt: 336 px images in 14 px
patches; a 4-layer, 256-wide language model), where the image prefix is most of every prompt, as
in real checkpoints.

Vision-tower images are counted by wrapping LlavaModel.get_image_features at class level
(rows of pixel_values that reach it), and LM positions by wrapping LlamaModel.forward, the same
way for every tree.
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
trees.use(".")  # the tree in the working directory, not an editable install, provides vlmeval
import transformers.models.llava.modeling_llava as m
rows = [0]
original = m.LlavaModel.get_image_features
def counted(self, pixel_values, *a, **k):
    rows[0] += int(pixel_values.shape[0])
    return original(self, pixel_values, *a, **k)
m.LlavaModel.get_image_features = counted
import transformers.models.llama.modeling_llama as llama
positions = [0]
forward = llama.LlamaModel.forward
def counted_forward(self, *a, **k):
    x = k.get('inputs_embeds') if k.get('inputs_embeds') is not None else k.get('input_ids')
    positions[0] += int(x.shape[0] * x.shape[1])
    return forward(self, *a, **k)
llama.LlamaModel.forward = counted_forward
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
print('POSITIONS', positions[0])
for name, value in spent.items():
    print(name, value)
sys.exit(rc)
"""


WIDE = {"image_size": 336, "patch_size": 14,
        "text": {"hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 4,
                 "num_attention_heads": 8, "num_key_value_heads": 8, "max_position_embeddings": 1024}}


def world(folder: Path, n_images: int, wide: bool) -> tuple[Path, Path, Path]:
    sys.path.insert(0, str(ROOT / "tests"))
    import hf_families

    model = folder / "llava"
    hf_families.build_llava(model, **(WIDE if wide else {}))
    images = folder / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    questions = folder / "pope.json"
    side = 336 if wide else 64
    with questions.open("w") as f:
        for i in range(n_images):
            Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(
                images / f"img{i:03d}.png")
            for j, obj in enumerate(OBJECTS):
                f.write(json.dumps({"question_id": i * len(OBJECTS) + j, "image": f"img{i:03d}.png",
                                    "text": f"Is there a {obj} in the image?",
                                    "label": "yes" if (i + j) % 2 else "no"}) + "\n")
    return model, questions, images


def run(tree: Path, model: Path, questions: Path, images: Path, out: Path, extra: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", DRIVER.replace("BENCH", repr(str(ROOT / "bench"))), "run", "--model", str(model), "--tasks", "pope", "--data",
         str(questions), "--images", str(images), "--out", str(out), "-q", *extra],
        capture_output=True, text=True, env=env, cwd=tree)
    if done.returncode != 0:
        raise SystemExit(f"{tree}: exit {done.returncode}: {done.stderr[-2000:]}")
    values = dict(line.split() for line in done.stdout.splitlines()
                  if line.startswith(("WALL", "ROWS", "POSITIONS", "COMPUTE", "ADAPTER")))
    return {"wall_s": float(values["WALL"]), "compute_s": float(values["COMPUTE"]),
            "adapter_s": float(values["ADAPTER"]), "vision_rows": int(values["ROWS"]),
            "lm_positions": int(values["POSITIONS"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, help="an earlier source tree to compare against")
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--unshared", action="store_true",
                        help="also this tree with --model-arg shared_prefix=false")
    parser.add_argument("--prefetched", action="store_true",
                        help="also this tree with --model-arg prefetch=true")
    parser.add_argument("--wide", action="store_true",
                        help="a LLaVA with 576 image tokens a prompt and a 256-wide LM")
    parser.add_argument("--device", help="passed to every run (e.g. cuda; default: the run's own)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    variants = {"now": (ROOT, []),
                **({"unshared": (ROOT, ["--model-arg", "shared_prefix=false"])} if args.unshared else {}),
                **({"prefetched": (ROOT, ["--model-arg", "prefetch=true"])} if args.prefetched
                   else {}),
                **({"old": (args.old.resolve(), [])} if args.old else {})}
    results: dict[str, list[dict]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as tmp:
        model, questions, images = world(Path(tmp), args.images, args.wide)
        n = args.images * len(OBJECTS)
        device = ["--device", args.device] if args.device else []
        for k, name, (tree, extra) in alternating(variants, args.rounds):
            r = run(tree, model, questions, images, Path(tmp) / f"{name}{k}", [*extra, *device])
            results[name].append(r)
            print(f"round {k} {name:>8}: run {r['wall_s']:5.2f} s, computing {r['compute_s']:5.2f} s "
                  f"({n / r['compute_s']:6.1f} samples/s; in adapter calls {r['adapter_s']:5.2f} s), "
                  f"vision-tower images {r['vision_rows']} for {args.images} unique, "
                  f"LM positions {r['lm_positions']:,}", flush=True)
    figures = {"requests": n, "unique_images": args.images, "wide": args.wide}
    for name, rows in results.items():
        median = {k: statistics.median(r[k] for r in rows) for k in ("wall_s", "compute_s", "adapter_s")}
        figures[name] = {**{f"median_{k}": round(v, 3) for k, v in median.items()},
                         "samples_per_s": round(n / median["compute_s"], 1),
                         "vision_images_per_unique": rows[0]["vision_rows"] / args.images,
                         "lm_positions": rows[0]["lm_positions"]}
        print(f"{name:>8}: median run {median['wall_s']:.2f} s, computing {median['compute_s']:.2f} s "
              f"= {n / median['compute_s']:.1f} samples/s, "
              f"{rows[0]['vision_rows'] / args.images:g} vision-tower images per unique image, "
              f"{rows[0]['lm_positions']:,} LM positions")
    for name in ("old", "unshared"):
        if name in figures:
            figures[f"speedup_over_{name}"] = round(
                figures[name]["median_compute_s"] / figures["now"]["median_compute_s"], 2)
            print(f"now / {name} samples/s while computing: {figures[f'speedup_over_{name}']}x")
    if "prefetched" in figures:
        figures["prefetched_speedup"] = round(
            figures["now"]["median_compute_s"] / figures["prefetched"]["median_compute_s"], 2)
        print(f"prefetched / now samples/s while computing: {figures['prefetched_speedup']}x")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
