"""Training text for our VLM, generated from the scenes train split and small text skills.

- captions (stage 1 alignment, and LM pretraining as plain text: the LM learns which shapes
  go together, the language prior that POPE's adversarial setting probes);
- instructions (stage 2): presence with honest "no" answers, counting, spatial relations,
  colours;
- scenes as text (LM pretraining): the instructions with the image slot holding a grid of
  words, one per image token (`word_grid`), so the LM learns to answer presence, counting and
  spatial questions by looking things up in the image slot before any image reaches it;
- text skills (LM pretraining and --text-mix): small arithmetic, successors, opposites.
"""

from __future__ import annotations

import random
from typing import Iterator

from vlmeval.data import prompts, text
from vlmeval.data.scenes import CATEGORIES, COLOURS, IMAGE_SIZE, SIZES, THEMES, Scene, SceneObject
from vlmeval.data.text import OPPOSITES

Example = tuple[str, str]  # (question, answer)
CAPTION_QUESTION = prompts.CAPTION_QUESTION
# Instruction mix of stage 2 (weights).
INSTRUCT_MIX = {"presence": 4, "count": 3, "spatial": 3, "colour": 1, "caption": 1}
# The questions a word grid can answer (it names categories and places, not colours or sizes).
GRID_MIX = {"presence": 4, "count": 3, "spatial": 3}
EMPTY = "empty"  # the word of a grid cell with no object centre in it


def presence(scene: Scene, rng: random.Random) -> Example:
    """Half positives, half negatives drawn uniformly from the absent categories."""
    present = set(scene.categories)
    absent = [c for c in CATEGORIES if c not in present]
    if rng.random() < 0.5 or not absent:
        return prompts.presence_question(rng.choice(scene.categories)), "yes"
    return prompts.presence_question(rng.choice(absent)), "no"


def count(scene: Scene, rng: random.Random) -> Example:
    """A category in the image (count >= 1) or, one time in four, an absent one (0)."""
    absent = [c for c in CATEGORIES if c not in scene.categories]
    category = rng.choice(absent) if absent and rng.random() < 0.25 else rng.choice(scene.categories)
    return prompts.count_question(category), str(scene.count(category))


def spatial_pair(scene: Scene, rng: random.Random, relations=tuple(prompts.RELATIONS),
                 ) -> tuple[SceneObject, str, SceneObject] | None:
    """Two objects of categories that occur once (unambiguous) and a relation among
    `relations` that is decided between them (different columns or rows), or None."""
    unique = [o for o in scene.objects if scene.count(o.category) == 1]
    pairs = [(a, r, b) for a in unique for b in unique if a is not b
             for r in relations if prompts.relation_holds(a, r, b) is not None]
    return rng.choice(pairs) if pairs else None


def spatial(scene: Scene, rng: random.Random, relations=tuple(prompts.RELATIONS)) -> Example | None:
    """A relation between two objects of categories that occur once."""
    pair = spatial_pair(scene, rng, relations)
    if pair is None:
        return None
    a, r, b = pair
    answer = "yes" if prompts.relation_holds(a, r, b) else "no"
    return prompts.spatial_question(a.category, r, b.category), answer


def colour(scene: Scene, rng: random.Random) -> Example | None:
    unique = [o for o in scene.objects if scene.count(o.category) == 1]
    if not unique:
        return None
    o = rng.choice(unique)
    return prompts.colour_question(o.category), o.colour


def caption(scene: Scene, rng: random.Random) -> Example:
    return CAPTION_QUESTION, prompts.caption(scene)


_KINDS = {"presence": presence, "count": count, "spatial": spatial, "colour": colour,
          "caption": caption}


def word_grid(scene: Scene, side: int, objects: list[SceneObject] | None = None) -> list[str]:
    """The scene as side x side words in row-major order, one per image token: each object's
    category in the cell that holds its centre, EMPTY elsewhere (`objects`: only those shown).
    At 4x4 the world's 3x3 layout never puts two centres in one cell, so counting words counts
    objects."""
    words = [EMPTY] * (side * side)
    for o in scene.objects if objects is None else objects:
        words[cell_index(o, side)] = o.category
    return words


def cell_index(obj: SceneObject, side: int) -> int:
    """Row-major index of the side x side grid cell holding the object's centre."""
    x, y = obj.centre
    return int(y) * side // IMAGE_SIZE * side + int(x) * side // IMAGE_SIZE


def instruction(scene: Scene, rng: random.Random,
                mix: dict[str, int] = INSTRUCT_MIX) -> Example:
    """One example about the scene, its kind drawn from `mix` (stage 2: INSTRUCT_MIX)."""
    kinds, weights = zip(*mix.items())
    while True:
        example = _KINDS[rng.choices(kinds, weights)[0]](scene, rng)
        if example is not None:
            return example


def text_skill(rng: random.Random) -> Example:
    """A text-only question the LM should keep answering after visual tuning."""
    kind = rng.randrange(4)
    if kind == 0:
        a, b = rng.randrange(10), rng.randrange(10)
        return text.addition(a, b)
    if kind == 1:
        return text.successor(rng.randrange(19))
    if kind == 2:
        return text.opposite(rng.choice(sorted(OPPOSITES)))
    return text.number_word(rng.randrange(10))


def vocabulary_corpus() -> Iterator[str]:
    """Every word the templates can produce (the tokenizer's training text)."""
    yield from (prompts.presence_question(c) + " " + prompts.count_question(c) + " "
                + prompts.colour_question(c) for c in CATEGORIES)
    yield from (prompts.spatial_question("star", r, "moon") for r in prompts.RELATIONS)
    yield " ".join([*COLOURS, *SIZES, *THEMES, *prompts.ROWS, *prompts.COLUMNS,
                    *prompts.NUMBER_WORDS, *OPPOSITES, *(str(n) for n in range(20))])
    yield f"a an at on in the center . , ? : yes no answer {EMPTY} " + CAPTION_QUESTION
    yield "What is 1 plus 2? What number comes after 3? What is the opposite of left? " \
          "How do you write 4 in words?"
