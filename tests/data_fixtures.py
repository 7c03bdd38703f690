"""One small local source per task that reads --data (the formats users bring), built on the
spot from scenes images. A task that reads --data must have an entry here: the contract test
fails for one that has none."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from test_data_sources import (N_IMAGES, _pope_rows, _rows, _save_images, build_coco_captions,
                               build_coco_instances, build_vqav2)
from vlmeval.data import scenes

# A fixture builds into a folder and returns (the --data path, the --images folder or None).
Fixture = Callable[[Path], "tuple[Path, Path | None]"]


def _manifest(folder: Path, name: str, rows: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def vqa_files(folder: Path):
    return build_vqav2(folder), None


def vqa_manifest(folder: Path):
    _save_images(folder / "img", "{}.png")
    for i in range(N_IMAGES):
        (folder / "img" / f"{100 + i}.png").rename(folder / "img" / f"{i}.png")
    return _manifest(folder, "manifest.jsonl", _rows()), None


def captions(folder: Path):
    return build_coco_captions(folder), None


def chair_instances(folder: Path):
    path = build_coco_instances(folder, n_images=N_IMAGES)
    build_coco_captions(folder)  # captions_val2014.json beside the instances
    return path, None


def pope_instances(folder: Path):
    return build_coco_instances(folder), None


def pope_question_file(folder: Path):
    _save_images(folder / "val2014")
    return _manifest(folder, "coco_pope_adversarial.json", _pope_rows()), folder / "val2014"


def counting_manifest(folder: Path):
    _save_images(folder, "{}.png")
    rows = [{"image": f"{100 + i}.png", "question": "How many shapes are there?",
             "answers": [str(len(scenes.scene("eval", i).objects))]}
            for i in range(N_IMAGES)]
    return _manifest(folder, "count.jsonl", rows), None


def spatial_manifest(folder: Path):
    _save_images(folder, "{}.png", n=2)
    rows = [{"image": "100.png", "question": "Is the cat left of the dog?", "answer": "yes",
             "relation": "left", "pair": 1},
            {"image": "100.png", "question": "Is the dog left of the cat?", "answer": "no",
             "relation": "left", "pair": 1},
            {"image": "101.png", "question": "Is the cup on the table?", "answer": "yes",
             "relation": "on"}]
    return _manifest(folder, "spatial.jsonl", rows), None


def mc_file(folder: Path):
    rows = [{"id": f"q{i}", "question": f"Which is shape {i}?", "choices": ["star", "moon", "heart"],
             "answer": i % 3} for i in range(6)]
    return _manifest(folder, "mc.jsonl", rows), None


DATA_FIXTURES: dict[str, dict[str, Fixture]] = {
    "vqa": {"vqav2": vqa_files, "manifest": vqa_manifest},
    "captioning": {"coco_captions": captions},
    "chair": {"coco_instances": chair_instances},
    "pope": {"coco_instances": pope_instances, "question_file": pope_question_file},
    "counting": {"manifest": counting_manifest},
    "spatial": {"manifest": spatial_manifest},
    "text_mc": {"jsonl": mc_file},
}
