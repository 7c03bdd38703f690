"""COCO annotation JSON read with pycocotools: captions (captions_<split>.json) and instances
(instances_<split>.json, for POPE)."""

from __future__ import annotations

import contextlib
import io
import random
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
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[image_id]))
        bad = next((a for a in anns if not isinstance(a.get("caption"), str)
                    or not a["caption"].strip()), None)
        if bad is not None:
            raise DataError(f"{path}: annotation {bad.get('id')!r} of image {image_id} has caption "
                            f"{bad.get('caption')!r}; every caption must be non-empty text (remove "
                            f"that annotation)")
        captions = [a["caption"] for a in anns]
        if not captions:
            continue
        info = coco.loadImgs([image_id])[0]
        where = f"{path}: image {image_id}"
        out.append(Sample(id=f"coco-{image_id}",
                          image=file_image(require(info, "file_name", where), roots, where),
                          fields={"answers": tuple(captions), "unit": f"image-{image_id}"}))
    return out


def is_instances(data: object) -> bool:
    anns = data.get("annotations") if isinstance(data, dict) else None
    return (bool(anns) and isinstance(anns[0], dict) and "category_id" in anns[0]
            and bool(data.get("categories")))


def load_instances(path: Path, images: Path | None = None, min_objects: int = 3,
                   n_images: int = 500, seed: int = 0) -> list[Sample]:
    """`n_images` images drawn with `seed` among those with at least `min_objects` distinct
    categories (POPE samples 500), in image id order, as Samples whose `objects` are the
    category names in annotation order (POPE's positives are the first ones). Only the drawn
    images are hashed."""
    data = read_json(path)
    if not is_instances(data):
        raise DataError(f"{path}: field 'annotations' holds no 'category_id' entries or "
                        f"'categories' is empty; pass a COCO instances file (instances_val2014.json)")
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = data
        coco.createIndex()
    names = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    folder = path.parent
    split = path.stem.removeprefix("instances_")
    roots = [images] if images else [folder, folder / "images", folder / split]
    qualifying = {}
    for image_id in sorted(coco.getImgIds()):
        anns = sorted(coco.loadAnns(coco.getAnnIds(imgIds=[image_id])), key=lambda a: a["id"])
        objects = tuple(dict.fromkeys(names[a["category_id"]] for a in anns))
        if len(objects) >= min_objects:
            qualifying[image_id] = objects
    chosen = sorted(random.Random(f"pope-coco-{seed}").sample(
        sorted(qualifying), min(n_images, len(qualifying))))
    out = []
    for image_id in chosen:
        info = coco.loadImgs([image_id])[0]
        where = f"{path}: image {image_id}"
        out.append(Sample(id=f"coco-{image_id}", objects=qualifying[image_id],
                          image=file_image(require(info, "file_name", where), roots, where)))
    return out
