"""The HF adapter's shared image prefix on a GPU (issue 25), in float32 and bfloat16: random-
weight LLaVAs with LLaVA-1.5's 576 image tokens a prompt ("wide": a 4-layer 256-wide Llama;
"large": 16 layers, 2048 wide, 0.9B parameters), 40 images x 6 POPE questions, batch 32.
For each model and dtype: samples/s shared and unshared (`shared_prefix=False`), after one
warm-up batch, and how far the unshared answers and option scores are from the shared ones;
then, beside it, how far batching alone moves them (unshared, batch 8 against batch 32).

    python bench/hf_shared_prefix_gpu.py [--device cuda] [--sizes wide,large] [--json F]

It needs a GPU for its figures (on CPU, `--device cpu --sizes tiny` checks the script).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

import hf_families  # noqa: E402
from vlmeval.adapters.hf import HFAdapter  # noqa: E402
from vlmeval.records import ImageRef, Request  # noqa: E402

LLAVA_15 = {"image_size": 336, "patch_size": 14}
SIZES = {
    "tiny": {},
    "wide": {**LLAVA_15, "text": {"hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 4,
                                  "num_attention_heads": 8, "num_key_value_heads": 8,
                                  "max_position_embeddings": 1024}},
    "large": {**LLAVA_15, "text": {"hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 16,
                                   "num_attention_heads": 16, "num_key_value_heads": 16,
                                   "max_position_embeddings": 1024}},
}
OBJECTS = ("dog", "cat", "car", "chair", "cup", "bottle")


def pope(folder: Path, n_images: int = 40) -> list[Request]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n_images):
        path = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, (336, 336, 3), dtype=np.uint8)).save(path)
        out += [Request(task="pope", request_id=f"{i}/{j}", sample_id=str(i), prompt=f"Is there a {o} in the image?",
                        image=ImageRef("file", str(path), ""), target="yes", options=("yes", "no"),
                        max_new_tokens=8) for j, o in enumerate(OBJECTS)]
    return out


def answers(adapter: HFAdapter, requests: list[Request], batch: int, device: str) -> tuple[float, list, list]:
    texts, scores = [], []
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for k in range(0, len(requests), batch):
        texts += adapter.generate(requests[k:k + batch])
        scores += adapter.score(requests[k:k + batch])
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start, texts, scores


def apart(a: tuple, b: tuple) -> dict:
    """How far run a's answers are from run b's."""
    return {"texts_equal": sum(x == y for x, y in zip(a[1], b[1])),
            "score_max_diff": max(abs(x - y) for p, q in zip(a[2], b[2]) for x, y in zip(p, q)),
            "choice_flips": sum((p[0] > p[1]) != (q[0] > q[1]) for p, q in zip(a[2], b[2]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--sizes", default="wide,large")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        requests = pope(Path(tmp))
        for size in args.sizes.split(","):
            path = Path(tmp) / size
            hf_families.build_llava(path, **SIZES[size])
            for dtype in ("float32", "bfloat16"):
                runs = {}
                for shared in (True, False):
                    adapter = HFAdapter(size, path, device=args.device, dtype=dtype, shared_prefix=shared)
                    answers(adapter, requests[:32], 32, args.device)  # warm-up
                    name = "shared" if shared else "unshared"
                    runs[name] = answers(adapter, requests, 32, args.device)
                    if not shared:
                        runs["unshared_batch_8"] = answers(adapter, requests, 8, args.device)
                    del adapter
                row = {"requests": len(requests),
                       "shared_samples_per_s": round(len(requests) / runs["shared"][0], 1),
                       "unshared_samples_per_s": round(len(requests) / runs["unshared"][0], 1),
                       "speedup": round(runs["unshared"][0] / runs["shared"][0], 2),
                       "shared_vs_unshared": apart(runs["shared"], runs["unshared"]),
                       "batch_8_vs_32_unshared": apart(runs["unshared_batch_8"], runs["unshared"])}
                figures[f"{size}/{dtype}"] = row
                print(f"{size} {dtype}: {json.dumps(row)}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
