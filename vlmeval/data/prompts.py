"""The question templates of the scenes world, shared by the tasks that ask them and the trainer
that teaches our VLM to answer them (so train and eval prompts cannot drift apart)."""

from __future__ import annotations

from vlmeval.data.scenes import CATEGORIES, GRID, Scene, SceneObject

PLURALS = {c: c + "s" for c in CATEGORIES} | {
    "cross": "crosses", "hourglass": "hourglasses", "plus": "pluses"}
ROWS = ("top", "middle", "bottom")
COLUMNS = ("left", "center", "right")
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# relation -> (axis of SceneObject.cell, sign): "a left of b" means a's column < b's column.
RELATIONS = {"left": (1, -1), "right": (1, 1), "above": (0, -1), "below": (0, 1)}
_RELATION_TEXT = {"left": "to the left of", "right": "to the right of",
                  "above": "above", "below": "below"}
assert GRID == 3 == len(ROWS) == len(COLUMNS)


def article(word: str) -> str:
    return "an" if word[0].lower() in "aeiou" else "a"


def presence_question(category: str) -> str:
    return f"Is there {article(category)} {category} in the image?"


def count_question(category: str) -> str:
    return f"How many {PLURALS[category]} are there in the image?"


def spatial_question(a: str, relation: str, b: str) -> str:
    return f"Is the {a} {_RELATION_TEXT[relation]} the {b}?"


def colour_question(category: str) -> str:
    return f"What colour is the {category}?"


def relation_holds(a: SceneObject, relation: str, b: SceneObject) -> bool | None:
    """True/False when a and b are in different grid columns (left/right) or rows (above/below),
    so the answer is unambiguous; None when they share the column or row."""
    axis, sign = RELATIONS[relation]
    if a.cell[axis] == b.cell[axis]:
        return None
    return (a.cell[axis] - b.cell[axis]) * sign > 0


def place(obj: SceneObject) -> str:
    row, col = obj.cell
    if (row, col) == (1, 1):
        return "in the center"
    if row == 1:
        return f"on the {COLUMNS[col]}"
    if col == 1:
        return f"at the {ROWS[row]}"
    return f"at the {ROWS[row]} {COLUMNS[col]}"


def caption(scene: Scene) -> str:
    """One sentence per object, in grid order: "a large red star at the top left." """
    objects = sorted(scene.objects, key=lambda o: o.cell)
    return " ".join(f"{article(o.size)} {o.size} {o.colour} {o.category} {place(o)}."
                    for o in objects)


CAPTION_QUESTION = "Describe the image."
_OTHER_SIZE = {"large": "big", "small": "little"}


def _corner(obj: SceneObject) -> str:
    text = place(obj)
    return text.replace("at the", "in the") + " corner" if obj.cell[0] != 1 != obj.cell[1] else text


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def reference_captions(scene: Scene) -> list[str]:
    """Five references per image, as five annotators would write them: the training caption,
    then other orders and other words ("big", "little", "in the top left corner", one listing
    sentence), so BLEU and CIDEr reward the content rather than one phrasing."""
    grid = sorted(scene.objects, key=lambda o: o.cell)
    by_size = sorted(grid, key=lambda o: o.size != "large")
    n = len(grid)
    return [
        caption(scene),
        " ".join(f"{article(_OTHER_SIZE[o.size])} {_OTHER_SIZE[o.size]} {o.colour} {o.category} "
                 f"{place(o)}." for o in reversed(grid)),
        "There " + ("is " if n == 1 else "are ") + _listing(
            [f"{article(o.size)} {o.size} {o.colour} {o.category}" for o in grid]) + ".",
        " ".join(f"{article(o.colour)} {o.colour} {o.category} {_corner(o)}." for o in by_size),
        f"{NUMBER_WORDS[n].capitalize()} shape{'s' if n > 1 else ''}: " + _listing(
            [f"{article(o.colour)} {o.colour} {o.category} {place(o)}" for o in grid]) + ".",
    ]
