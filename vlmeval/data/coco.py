"""COCO captions annotation JSON (captions_<split>.json), read with pycocotools."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from pycocotools.coco import COCO

from vlmeval.data.files import file_image, read_json, require
from vlmeval.errors import DataError
from vlmeval.records import Sample


def is_captions(data: object) -> bool:
    anns = data.get("annotations") if isinstance(data, dict) else None
    return bool(anns) and isinstance(anns[0], dict) and "caption" in anns[0]


def load(path: Path, images: Path | None = None, limit: int | None = None) -> list[Sample]:
    """One Sample per image with at least one caption, in image id order; fields: answers (the
    reference captions), unit."""
    data = read_json(path)
    if not is_captions(data):
        raise DataError(f"{path}: field 'annotations' holds no 'caption' entries; pass a COCO "
                        f"captions file (captions_val2014.json), not instances or keypoints")
    require(data, "images", str(path), "pass the official captions file")
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco = COCO()
        coco.dataset = data
        coco.createIndex()
    folder = path.parent
    split = path.stem.removeprefix("captions_")
    roots = [images] if images else [folder, folder / "images", folder / split]
    out = []
    for image_id in sorted(coco.getImgIds())[:limit] if limit else sorted(coco.getImgIds()):
        captions = [a["caption"] for a in coco.loadAnns(coco.getAnnIds(imgIds=[image_id]))]
        if not captions:
            continue
        info = coco.loadImgs([image_id])[0]
        where = f"{path}: image {image_id}"
        out.append(Sample(id=f"coco-{image_id}",
                          image=file_image(require(info, "file_name", where), roots, where),
                          fields={"answers": tuple(captions), "unit": f"image-{image_id}"}))
    return out
