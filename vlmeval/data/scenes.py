"""The built-in "scenes" world: small generated images with exact ground truth.

Each scene is drawn from a theme whose core categories are eight times as likely as the others,
so categories co-occur the way objects do in real photos (a kitchen "has" a fridge). That gives a
language prior something to learn and makes POPE's popular and adversarial negatives harder than
random ones. Objects sit in distinct cells of a 3x3 grid, so they never overlap and any two
objects in different columns (rows) are well separated left/right (above/below).

Everything is a pure function of (split, index, WORLD_VERSION): the same call gives the same
scene and the same pixels on every machine with the same Pillow drawing code.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from vlmeval.errors import ConfigError

WORLD_VERSION = "1"
IMAGE_SIZE = 64
GRID = 3
CELL = IMAGE_SIZE // GRID  # 21 px
SIZES = {"small": 11, "large": 18}
BACKGROUND = (244, 242, 236)

CATEGORIES = (
    "circle", "square", "triangle", "star", "cross", "plus",
    "heart", "diamond", "ring", "arrow", "moon", "hourglass",
)
COLOURS = {
    "red": (214, 39, 40), "green": (44, 160, 44), "blue": (31, 119, 180),
    "yellow": (230, 190, 0), "purple": (148, 103, 189), "orange": (255, 127, 14),
}
# Core categories per theme. Some categories belong to several themes, so marginal frequencies
# differ (popular negatives) and co-occurrence is strong within a theme (adversarial negatives).
THEMES = {
    "night": ("star", "moon", "circle", "ring"),
    "cards": ("heart", "diamond", "star", "cross"),
    "geometry": ("square", "triangle", "circle", "diamond"),
    "signs": ("arrow", "plus", "cross", "square"),
    "clock": ("hourglass", "ring", "circle", "arrow"),
    "party": ("star", "heart", "triangle", "ring"),
}
CORE_WEIGHT = 8.0
MIN_OBJECTS, MAX_OBJECTS = 1, 6
# Disjoint seed streams: a split's id is the first word of every scene's seed sequence.
SPLITS = {"train": 1, "eval": 2}
EVAL_SIZE = 500


@dataclass(frozen=True)
class SceneObject:
    category: str
    colour: str
    size: str
    bbox: tuple[int, int, int, int]  # (x0, y0, x1, y1), inclusive pixel box
    cell: tuple[int, int]  # (row, col) in the 3x3 grid

    @property
    def centre(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.bbox
        return ((x0 + x1) / 2.0, (y0 + y1) / 2.0)


@dataclass(frozen=True)
class Scene:
    split: str
    index: int
    theme: str
    objects: tuple[SceneObject, ...]

    @property
    def key(self) -> str:
        return f"{self.split}:{self.index}"

    @property
    def categories(self) -> tuple[str, ...]:
        """Distinct categories in the order they were drawn (POPE asks about the first ones)."""
        return tuple(dict.fromkeys(o.category for o in self.objects))

    def count(self, category: str) -> int:
        return sum(o.category == category for o in self.objects)


def theme_weights(theme: str) -> np.ndarray:
    weights = np.array([CORE_WEIGHT if c in THEMES[theme] else 1.0 for c in CATEGORIES])
    return weights / weights.sum()


def prior_frequencies() -> dict[str, float]:
    """Expected share of each category over all scenes (themes are equally likely)."""
    mean = np.mean([theme_weights(t) for t in THEMES], axis=0)
    # Rounded so equal shares compare equal (ties are then broken by name, not float noise).
    return {c: round(float(p), 9) for c, p in zip(CATEGORIES, mean)}


def frequent_categories() -> frozenset[str]:
    """The half of the categories with the highest prior frequency (ties broken by name)."""
    freq = prior_frequencies()
    ranked = sorted(CATEGORIES, key=lambda c: (-freq[c], c))
    return frozenset(ranked[: len(CATEGORIES) // 2])


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ConfigError(f"unknown scenes split {split!r} (valid: {', '.join(SPLITS)})")
    return split


@lru_cache(maxsize=4096)
def scene(split: str, index: int) -> Scene:
    """Scene `index` of `split`; deterministic."""
    rng = np.random.default_rng([SPLITS[check_split(split)], int(WORLD_VERSION), index])
    theme = list(THEMES)[rng.integers(len(THEMES))]
    n = int(rng.integers(MIN_OBJECTS, MAX_OBJECTS + 1))
    cells = rng.choice(GRID * GRID, size=n, replace=False)
    probs = theme_weights(theme)
    objects = []
    for cell in cells:
        category = CATEGORIES[rng.choice(len(CATEGORIES), p=probs)]
        colour = list(COLOURS)[rng.integers(len(COLOURS))]
        size = "large" if rng.random() < 0.5 else "small"
        side = SIZES[size]
        row, col = divmod(int(cell), GRID)
        # Jitter inside the cell, keeping a 1 px margin so neighbours never touch.
        x0 = col * CELL + 1 + int(rng.integers(0, CELL - side - 1))
        y0 = row * CELL + 1 + int(rng.integers(0, CELL - side - 1))
        bbox = (x0, y0, x0 + side - 1, y0 + side - 1)
        objects.append(SceneObject(category, colour, size, bbox, (row, col)))
    return Scene(split, index, theme, tuple(objects))


def scenes(split: str, n: int, start: int = 0) -> list[Scene]:
    return [scene(split, i) for i in range(start, start + n)]


def render(s: Scene) -> Image.Image:
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for obj in s.objects:
        _GLYPHS[obj.category](draw, obj.bbox, COLOURS[obj.colour])
    return image


def image_sha256(image: Image.Image) -> str:
    """Hash of mode, size and raw pixels (what a model sees, not a file encoding)."""
    h = hashlib.sha256(f"{image.mode}:{image.size}".encode())
    h.update(image.tobytes())
    return h.hexdigest()


@lru_cache(maxsize=4096)
def scene_sha256(split: str, index: int) -> str:
    return image_sha256(render(scene(split, index)))


# --- glyphs: each draws one category inside an inclusive bbox --------------------------------

Box = tuple[int, int, int, int]
Colour = tuple[int, int, int]


def _circle(d: ImageDraw.ImageDraw, b: Box, c: Colour) -> None:
    d.ellipse(b, fill=c)


def _ring(d: ImageDraw.ImageDraw, b: Box, c: Colour) -> None:
    d.ellipse(b, outline=c, width=max(2, (b[2] - b[0]) // 5))


def _square(d: ImageDraw.ImageDraw, b: Box, c: Colour) -> None:
    d.rectangle(b, fill=c)


def _triangle(d: ImageDraw.ImageDraw, b: Box, c: Colour) -> None:
    x0, y0, x1, y1 = b
    d.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=c)


def _diamond(d: ImageDraw.ImageDraw, b: Box, c: Colour) -> None:
    x0, y0, x1, y1 = b
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    d.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=c)


def _star(d: ImageDraw.ImageDraw, b: Box, c: Colour) -> None:
    x0, y0, x1, y1 = b
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
    points = []
    for k in range(10):
        radius = r if k % 2 == 0 else r * 0.45
        angle = -math.pi / 2 + k * math.pi / 5
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    d.polygon(points, fill=c)


def _cross(d: ImageDraw.ImageDraw, b: Box, c: Colour) -> None:
    x0, y0, x1, y1 = b
    width = max(2, (x1 - x0) // 4)
    d.line([(x0, y0), (x1, y1)], fill=c, width=width)
    d.line([(x0, y1), (x1, y0)], fill=c, width=width)


def _plus(d: ImageDraw.ImageDraw, b: Box, c: Colour) -> None:
    x0, y0, x1, y1 = b
    half = max(1, (x1 - x0) // 6)
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    d.rectangle((cx - half, y0, cx + half, y1), fill=c)
    d.rectangle((x0, cy - half, x1, cy + half), fill=c)


def _heart(d: ImageDraw.ImageDraw, b: Box, c: Colour) -> None:
    x0, y0, x1, y1 = b
    w = x1 - x0
    cx = (x0 + x1) / 2
    lobe = w / 2
    d.ellipse((x0, y0, x0 + lobe, y0 + lobe), fill=c)
    d.ellipse((x1 - lobe, y0, x1, y0 + lobe), fill=c)
    d.polygon([(x0, y0 + lobe / 2), (x1, y0 + lobe / 2), (cx, y1)], fill=c)


def _arrow(d: ImageDraw.ImageDraw, b: Box, c: Colour) -> None:
    x0, y0, x1, y1 = b
    cy = (y0 + y1) / 2
    shaft = max(1, (y1 - y0) // 6)
    head = x1 - (x1 - x0) * 0.45
    d.rectangle((x0, cy - shaft, head, cy + shaft), fill=c)
    d.polygon([(head, y0), (x1, cy), (head, y1)], fill=c)


def _moon(d: ImageDraw.ImageDraw, b: Box, c: Colour) -> None:
    # A disc minus a shifted disc, cut out through a mask so nothing outside the bbox changes.
    x0, y0, x1, y1 = b
    w, h = x1 - x0 + 1, y1 - y0 + 1
    mask = Image.new("L", (w, h), 0)
    m = ImageDraw.Draw(mask)
    m.ellipse((0, 0, w - 1, h - 1), fill=255)
    shift = w * 0.4
    m.ellipse((shift, -1, w - 1 + shift, h - 2), fill=0)
    d.bitmap((x0, y0), mask, fill=c)


def _hourglass(d: ImageDraw.ImageDraw, b: Box, c: Colour) -> None:
    x0, y0, x1, y1 = b
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    d.polygon([(x0, y0), (x1, y0), (cx, cy)], fill=c)
    d.polygon([(x0, y1), (x1, y1), (cx, cy)], fill=c)


_GLYPHS = {
    "circle": _circle, "square": _square, "triangle": _triangle, "star": _star,
    "cross": _cross, "plus": _plus, "heart": _heart, "diamond": _diamond, "ring": _ring,
    "arrow": _arrow, "moon": _moon, "hourglass": _hourglass,
}
assert set(_GLYPHS) == set(CATEGORIES)
