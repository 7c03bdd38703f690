"""Data sources: each turns a dataset into Samples; `load_images` decodes ImageRefs."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from vlmeval.data import scenes
from vlmeval.records import ImageRef, Sample


# Larger images are refused before they are decoded (a 20000 x 20000 PNG is 1.2 GB of pixels):
# the request is recorded with the error and the run goes on; the report shows no thumbnail.
MAX_PIXELS = 40_000_000


def checked(image: Image.Image, where: str) -> Image.Image:
    """`image` (opened, not yet decoded) as RGB, unless it has more than MAX_PIXELS pixels."""
    return _within_limit(image, where).convert("RGB")


def _within_limit(image: Image.Image, where: str) -> Image.Image:
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ValueError(f"{where}: image of {width} x {height} pixels is above the limit of "
                         f"{MAX_PIXELS:,}; resize it")
    return image


def load_image(ref: ImageRef, draft: tuple[int, int] | None = None) -> Image.Image:
    """Decode one reference to an RGB image. draft: for a caller that shrinks the image to
    about half that size (the report's thumbnails), a JPEG file is decoded at the smallest of
    libjpeg's scales (1/2, 1/4, 1/8) still at least that large, as Pillow's thumbnail does."""
    if ref.source == "scenes":
        split, index = ref.key.split(":")
        return scenes.render(scenes.scene(split, int(index)))
    if ref.source == "file":
        try:
            with Image.open(ref.key) as image:
                if draft is None:
                    return checked(image, ref.key)
                _within_limit(image, ref.key).draft("RGB", draft)  # the file's own size
                return image.convert("RGB")
        except Image.DecompressionBombError as e:  # PIL's own guard, at twice its limit
            raise ValueError(f"{ref.key}: image above the limit of {MAX_PIXELS:,} pixels ({e}); "
                             f"resize it") from None
    if ref.source == "hf":
        from vlmeval.data import hf

        return hf.load_image(ref.key)
    if ref.source == "synthetic":
        return synthetic_image(ref.key)
    raise ValueError(f"unknown image source {ref.source!r} in {ref.key!r} "
                     f"(valid: scenes, file, hf, synthetic)")


def synthetic_image(key: str) -> Image.Image:
    """"blank": the scenes background colour; "noise:N": uniform RGB noise from seed N."""
    size = (scenes.IMAGE_SIZE, scenes.IMAGE_SIZE)
    if key == "blank":
        return Image.new("RGB", size, scenes.BACKGROUND)
    kind, _, seed = key.partition(":")
    if kind == "noise" and seed.isdigit():
        pixels = np.random.default_rng(int(seed)).integers(0, 256, (*size, 3), dtype=np.uint8)
        return Image.fromarray(pixels, "RGB")
    raise ValueError(f"unknown synthetic image {key!r} (valid: blank, noise:<seed>)")


def synthetic_ref(key: str) -> ImageRef:
    return ImageRef("synthetic", key, scenes.image_sha256(synthetic_image(key)))


def encoded_image(ref: ImageRef) -> tuple[bytes, str]:
    """(bytes, MIME type) to send an image over the wire: a file's or dataset's own bytes when
    PIL knows their format (no re-encoding), else the decoded image as PNG."""
    data = None
    if ref.source == "file":
        data = Path(ref.key).read_bytes()
    elif ref.source == "hf":
        from vlmeval.data import hf

        data = hf.load_bytes(ref.key)
    if data is not None:
        with Image.open(io.BytesIO(data)) as image:
            mime = Image.MIME.get(_within_limit(image, ref.key).format or "")
        if mime:
            return data, mime
    buffer = io.BytesIO()
    load_image(ref).save(buffer, format="PNG")
    return buffer.getvalue(), "image/png"


def load_images(refs: Sequence[ImageRef | None]) -> list[Image.Image | None]:
    """Decode a batch's images once; the same reference twice is decoded once."""
    cache: dict[ImageRef, Image.Image] = {}
    out: list[Image.Image | None] = []
    for ref in refs:
        if ref is None:
            out.append(None)
            continue
        if ref not in cache:
            cache[ref] = load_image(ref)
        out.append(cache[ref])
    return out


def scenes_samples(split: str = "eval", n: int = scenes.EVAL_SIZE) -> list[Sample]:
    """The built-in world as Samples (ground truth in `objects` and `fields['scene']`)."""
    out = []
    for s in scenes.scenes(split, n):
        ref = ImageRef("scenes", s.key, scenes.scene_sha256(split, s.index))
        out.append(Sample(id=f"scenes-{split}-{s.index:05d}", image=ref, objects=s.categories,
                          fields={"scene": s}))
    return out
