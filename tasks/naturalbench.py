"""naturalbench: NaturalBench (Li et al., NeurIPS 2024 D&B), paired questions on paired images.

`--data naturalbench=PATH`: the authors' dataset (parquet or save_to_disk folder) with columns
Index, Image_0, Image_1 (embedded bytes), Question_0, Question_1, Image_0_Question_0,
Image_1_Question_0, Image_0_Question_1, Image_1_Question_1 (gold answers: Yes/No, or A/B) and
Question_Type ("yes_no" or "multiple_choice"). Each row is asked four times, each question on
each image, with the authors' suffix ("Please answer Yes or No." or "Please output the letter
corresponding to the correct option.").

Metrics, as the authors' get_scores computes them: accuracy (Acc, over the four answers),
question_accuracy (Q-Acc: a question right on both images), image_accuracy (I-Acc: an image
right on both questions), group_accuracy (G-Acc: all four right); overall and per question type.
The authors' scorer takes the gold answers to follow the benchmark's design (question 0 is yes
or A on image 0 and no or B on image 1, question 1 the reverse); vlmeval compares with each
row's gold columns, which is the same on the authors' data and also right on a file that
orders them otherwise.

Answers are read with the authors' extract_answer under `official`: whichever of "yes"/"no"
(or "A"/"B") occurs first as a word, case-insensitive (so the article "a" reads as A, as
there); neither is unparsed here (-1 there, wrong in both). `strict` reads the first word.
CI units are rows (a pair of images with their two questions).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

from vlmeval.data import hf
from vlmeval.errors import DataError
from vlmeval.parsing import check_policy, choice_letter, yes_no_strict
from vlmeval.records import Parsed, Request
from vlmeval.schema import is_answer
from vlmeval.stats import CountTable
from vlmeval.tasks.base import TASKS
from vlmeval.tasks.benchmark import Benchmark, answer_table

SUFFIX = {"yes_no": "Please answer Yes or No.",
          "multiple_choice": "Please output the letter corresponding to the correct option."}
ANSWERS = {"yes_no": ("yes", "no"), "multiple_choice": ("A", "B")}
COLUMNS = ("Index", "Question_0", "Question_1", "Image_0_Question_0", "Image_1_Question_0",
           "Image_0_Question_1", "Image_1_Question_1", "Question_Type")
FIX = "pass NaturalBench's parquet file (or save_to_disk folder) unchanged"


def first_of(raw: str, first: str, second: str) -> Parsed:
    """The authors' extract_answer: whichever word occurs first, case-insensitive."""
    found = {}
    for word in (first, second):
        match = re.search(rf"\b{re.escape(word)}\b", raw, re.IGNORECASE)
        if match:
            found[word] = match.start()
    return Parsed.ok(min(found, key=found.get)) if found else Parsed.unparsed()


@TASKS.register("naturalbench")
class NaturalBench(Benchmark):
    """NaturalBench: Acc, Q-Acc, I-Acc and G-Acc over paired questions and images."""

    name = "naturalbench"
    version = "1"
    headline = "group_accuracy"
    companions = ("accuracy", "question_accuracy", "image_accuracy")
    group_kinds = ("question", "image", "group")
    grid = ("accuracy", "question_accuracy", "image_accuracy", "group_accuracy")
    source = "get NaturalBench's parquet files from the authors' dataset release (BaiqiL/NaturalBench)"
    authors_names = {"accuracy": "Acc", "question_accuracy": "Q_Acc", "image_accuracy": "I_Acc",
                     "group_accuracy": "G_Acc"}

    def load(self, path: Path, images: Path | None) -> list[Request]:
        out = []
        for where, row, refs in hf.benchmark_rows(path, COLUMNS, FIX, ("Image_0", "Image_1")):
            kind = str(row["Question_Type"])
            if kind not in SUFFIX:
                raise DataError(f"{where}: column 'Question_Type' is {kind!r}; expected yes_no or "
                                f"multiple_choice; {FIX}")
            unit = str(row["Index"])
            for q in (0, 1):
                for i in (0, 1):
                    gold = str(row[f"Image_{i}_Question_{q}"]).strip()
                    label = gold.lower() if kind == "yes_no" else gold.upper()
                    if label not in ANSWERS[kind]:
                        raise DataError(f"{where}: column 'Image_{i}_Question_{q}' is {gold!r}; a "
                                        f"{kind} answer is {' or '.join(ANSWERS[kind])}; {FIX}")
                    out.append(Request(
                        task=self.name, request_id=f"{unit}/q{q}/i{i}", sample_id=unit,
                        prompt=f"{row[f'Question_{q}']} {SUFFIX[kind]}", image=refs[f"Image_{i}"],
                        target=label.capitalize() if kind == "yes_no" else label,
                        options=tuple(a.capitalize() for a in ANSWERS[kind]), max_new_tokens=16,
                        meta={"label": label, "type": kind, "slices": (kind,),
                              "groups": {"question": f"{unit}/q{q}", "image": f"{unit}/i{i}",
                                         "group": unit}}))
        return out

    def read(self, record: Mapping[str, Any], policy: str) -> Parsed:
        if not is_answer(record):
            return Parsed(None, "error")
        kind = record["meta"]["type"]
        if check_policy(policy) == "official":
            parsed = first_of(record["raw"], *ANSWERS[kind])
            return Parsed.ok(parsed.answer.lower() if kind == "yes_no" else parsed.answer.upper()) \
                if parsed.answer else parsed
        if kind == "yes_no":
            return yes_no_strict(record["raw"])
        return choice_letter(record["raw"], ANSWERS[kind], ("", ""), "strict")

    def parse(self, raw: str, policy: str) -> Parsed:  # read() is used: the question type decides
        raise NotImplementedError("NaturalBench answers are read with their question type (read)")

    def count_table(self, records, policy: str) -> CountTable:
        return answer_table(records, lambda r: self.read(r, policy), self.group_kinds, None,
                            yes_no=False)
