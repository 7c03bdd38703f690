"""mmstar: MMStar (Chen et al., 2024), 1,500 vision-indispensable multiple-choice questions.

`--data mmstar=PATH`: the authors' parquet (mmstar.parquet: index, question, image with
embedded bytes, answer letter, category, l2_category, meta_info) or its save_to_disk folder.
The question text lists the options itself ("...\nOptions: A: ..., B: ..., C: ..., D: ...");
the prompt is that text and "Answer with the option's letter from the given choices directly."
(lmms-eval's default), and with --circular each rotation's options are written back in the
same "Options: A: ..., B: ..." form.

Metric: accuracy overall, per core capability (`category`, 6 of 250 questions each) and per
detailed axis (`l2_category`, 18). `official` reads answers with the authors' exact-match rule
(MMStar's evaluation, kept in lmms-eval: the answer's first character, or the character after
"(", "option " or "the answer is ", lower-cased, must be the letter; so "A cat" reads as A);
`strict` with `choice_letter`'s strict rule. lmms-eval's "average" is the mean of the 18 axes'
accuracies; vlmeval's accuracy is over questions (the paper's Avg., since its six capabilities
are the same size). CI units are questions.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from vlmeval.data import hf
from vlmeval.errors import DataError
from vlmeval.parsing import check_policy, choice_letter
from vlmeval.records import Parsed
from vlmeval.tasks.base import TASKS
from vlmeval.tasks.benchmark import LETTERS, ChoiceBenchmark, ChoiceItem

INSTRUCTION = "Answer with the option's letter from the given choices directly."
FIX = "pass MMStar's parquet file (or its save_to_disk folder) unchanged"
_PREFIXES = ("(", "option ", "the answer is ")


def split_options(question: str) -> tuple[str, list[str]] | None:
    """(stem, options) from "stem\nOptions: A: x, B: y, ..."; None if it does not read so."""
    stem, sep, rest = question.rpartition("Options:")
    if not sep:
        return None
    parts = re.split(r",\s*(?=[B-Z]:\s)", rest.strip())
    options = []
    for i, part in enumerate(parts):
        letter, colon, text = part.partition(":")
        if letter.strip() != LETTERS[i] or not colon:
            return None
        options.append(text.strip())
    return (stem.rstrip(), options) if len(options) >= 2 else None


def mmstar_letter(raw: str, letters: Sequence[str]) -> Parsed:
    """The authors' exact-match rule, as a reading: lower-cased and stripped, the first
    character, or the one after "(", "option " or "the answer is "."""
    text = raw.lower().strip().replace("\n", " ")
    valid = [letter.lower() for letter in letters]
    if text[:1] in valid:
        return Parsed.ok(text[0].upper())
    for prefix in _PREFIXES:
        if text.startswith(prefix) and text[len(prefix):len(prefix) + 1] in valid:
            return Parsed.ok(text[len(prefix)].upper())
    return Parsed.unparsed()


@TASKS.register("mmstar")
class MMStar(ChoiceBenchmark):
    """MMStar multiple choice: accuracy by core capability and axis; --circular for CircularEval."""

    name = "mmstar"
    version = "1"
    headline = "accuracy"
    source = "get mmstar.parquet from the authors' dataset release (Lin-Chen/MMStar)"
    authors_names = {"accuracy": "Avg. (accuracy)", "circular_accuracy": "CircularEval accuracy"}

    def items(self, path: Path, images: Path | None) -> list[ChoiceItem]:
        out = []
        for where, row, image in hf.benchmark_rows(
                path, ("index", "question", "answer", "category", "l2_category"), FIX):
            split = split_options(str(row["question"]))
            if split is None:
                raise DataError(f"{where}: column 'question' does not end with \"Options: A: ..., "
                                f"B: ...\"; {FIX}")
            _, choices = split
            answer = str(row["answer"]).strip()
            if answer not in LETTERS[:len(choices)]:
                raise DataError(f"{where}: column 'answer' is {row['answer']!r}, not one of the "
                                f"letters {', '.join(LETTERS[:len(choices)])}; {FIX}")
            category, axis = str(row["category"]), str(row["l2_category"])
            out.append(ChoiceItem(str(row["index"]), str(row["index"]), image, str(row["question"]).strip(),
                                  choices, LETTERS.index(answer), (category, f"{category}/{axis}")))
        return out

    def prompt(self, item: ChoiceItem, choices: Sequence[str], rotation: int) -> str:
        if rotation == 0:
            return f"{item.question}\n{INSTRUCTION}"
        stem, _ = split_options(item.question)
        options = ", ".join(f"{LETTERS[i]}: {c}" for i, c in enumerate(choices))
        return f"{stem}\nOptions: {options}\n{INSTRUCTION}"

    def parse_choice(self, raw: str, letters: Sequence[str], texts: Sequence[str], policy: str) -> Parsed:
        if check_policy(policy) == "official":
            return mmstar_letter(raw, letters)
        return choice_letter(raw, letters, texts, policy)
