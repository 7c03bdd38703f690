"""Text skills: the small text curriculum our VLM's LM learns and the text tasks test (shared,
so the training questions and the benchmark's cannot drift apart).

Four skills, each a question template with one right answer: addition of two digits,
successors of 0..18, opposites, and digits written as words. `items()` enumerates every
question of every skill.
"""

from __future__ import annotations

from typing import Iterator

from vlmeval.data.prompts import NUMBER_WORDS

OPPOSITES = {"left": "right", "right": "left", "above": "below", "below": "above",
             "top": "bottom", "bottom": "top", "large": "small", "small": "large",
             "yes": "no", "no": "yes"}
SKILLS = ("addition", "successor", "opposite", "number_word")


def addition(a: int, b: int) -> tuple[str, str]:
    return f"What is {a} plus {b}?", str(a + b)


def successor(n: int) -> tuple[str, str]:
    return f"What number comes after {n}?", str(n + 1)


def opposite(word: str) -> tuple[str, str]:
    return f"What is the opposite of {word}?", OPPOSITES[word]


def number_word(n: int) -> tuple[str, str]:
    return f"How do you write {n} in words?", NUMBER_WORDS[n]


def items() -> Iterator[tuple[str, str, str]]:
    """(skill, question, answer) for every question of every skill (139 in all)."""
    yield from (("addition", *addition(a, b)) for a in range(10) for b in range(10))
    yield from (("successor", *successor(n)) for n in range(19))
    yield from (("opposite", *opposite(w)) for w in sorted(OPPOSITES))
    yield from (("number_word", *number_word(n)) for n in range(10))


def answer_space(skill: str) -> list[str]:
    """Every answer a skill can have (multiple-choice distractors come from here)."""
    return sorted({a for s, _, a in items() if s == skill})
