"""`--data PATH`: which source reads a local file or folder, detected from its contents.

- a folder with one *questions*.json and one *annotations*.json, or a questions file: VQAv2;
- a COCO captions JSON (annotations with captions), or a folder holding one captions_*.json;
- a .jsonl file, or a .json file of JSON lines (POPE's question files): the generic manifest
  (vlmeval.data.jsonl);
- a COCO instances JSON: POPE builds its questions from it (probes/pope.py);
- a .parquet file or a `save_to_disk` folder: a local Hugging Face dataset (vlmeval.data.hf).
"""

from __future__ import annotations

import json
from pathlib import Path

from vlmeval.data import coco, hf, jsonl, vqav2
from vlmeval.data.files import read_json
from vlmeval.errors import DataError
from vlmeval.records import Sample

KINDS = ("a VQAv2 folder or questions JSON, a COCO captions or instances JSON, a JSONL manifest, "
         "a parquet file or a datasets save_to_disk folder")


def load_samples(path: Path, task: str, images: Path | None = None,
                 limit: int | None = None) -> list[Sample]:
    """The samples of `path` for `task` (at most `limit`); a one-line DataError if unreadable."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: not found; --data takes a local file or folder ({KINDS}); "
                        f"nothing is downloaded")
    if not (path.is_file() or path.is_dir()):
        raise DataError(f"{path}: not a regular file or folder (a pipe or device?); --data takes "
                        f"{KINDS}")
    if images is not None and not Path(images).is_dir():
        raise DataError(f"{images}: --images must be a folder of image files")
    samples = _read(path, task, images, limit)
    if not samples:
        raise DataError(f"{path}: no items for task {task!r} (rows with another 'task' field are "
                        f"skipped); check the file or the task")
    return samples


def is_json_lines(path: Path) -> bool:
    """A .json file holding one JSON object per line (not one JSON document)."""
    with path.open(encoding="utf-8", errors="replace") as f:
        first, second = f.readline(), f.readline()
    try:
        json.loads(first)
        return bool(second.strip()) and isinstance(json.loads(second), dict)
    except json.JSONDecodeError:
        return False


def _read(path: Path, task: str, images: Path | None, limit: int | None) -> list[Sample]:
    if path.is_dir():
        if hf.is_saved_dataset(path):
            return hf.load(path, task, limit)
        pair = vqav2.find_pair(path)
        if pair:
            return vqav2.load(*pair, images, limit)
        captions = sorted(path.glob("captions_*.json"))
        if len(captions) == 1:
            return coco.load(captions[0], images, limit)
        raise DataError(f"{path}: folder holds no recognised dataset; --data takes {KINDS}")
    if path.suffix == ".jsonl":
        return jsonl.load(path, task, images, limit)
    if path.suffix == ".parquet":
        return hf.load(path, task, limit)
    if path.suffix == ".json" and is_json_lines(path):  # e.g. POPE's coco_pope_random.json
        return jsonl.load(path, task, images, limit)
    if path.suffix == ".json":
        if "questions" in path.name:
            pair = vqav2.find_pair(path.parent)
            if pair is None or pair[0] != path:
                raise DataError(f"{path}: no single *annotations*.json beside it; put the VQAv2 "
                                f"annotations file in the same folder")
            return vqav2.load(*pair, images, limit)
        if coco.is_captions(read_json(path)):
            return coco.load(path, images, limit)
    raise DataError(f"{path}: unrecognised data file; --data takes {KINDS}")
