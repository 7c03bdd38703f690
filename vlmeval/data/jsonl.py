"""A generic JSONL manifest: one JSON object per line.

Fields: `image` (a path relative to the manifest's folder, or null for a text-only item),
`question` (may be empty for captioning), `answers` (a list of accepted answers or reference
captions) or `answer` (one), `task` (optional: the task the row is for, e.g. vqa, captioning,
counting; rows for another task are skipped), `id` (optional, default the line number),
`choices` with `answer` as index, letter or text (multiple-choice rows, see `row_fields`),
`answer_type`, `question_type`, `category`/`setting` (optional, for breakdowns). POPE's
question files (`text`, `label`) read as question and answer.
"""

from __future__ import annotations

from pathlib import Path

from vlmeval.data.files import file_image, json_lines
from vlmeval.errors import DataError
from vlmeval.records import Sample

FIX = 'write one object per line like {"image": "a.jpg", "question": "...", "answers": ["..."]}'


def load(path: Path, task: str, images: Path | None = None, limit: int | None = None) -> list[Sample]:
    out = []
    roots = [images] if images else [path.parent]
    for where, row in json_lines(path, FIX):
        if row.get("task", task) != task:
            continue
        fields = row_fields(row, where)
        if row.get("image"):
            fields.setdefault("unit", f"image-{row['image']}")  # CIs resample images
        out.append(Sample(id=f"{path.stem}-{row.get('id', row.get('question_id', where.rpartition(':')[2]))}",
                          image=file_image(row["image"], roots, where) if row.get("image") else None,
                          fields=fields))
        if limit and len(out) >= limit:
            break
    return out


def row_fields(row: dict, where: str) -> dict:
    """The fields every source gives a task: question, answers, and the optional extras.
    Multiple-choice rows (`choices`) may give `answer` as the choice's index, its letter
    ("B") or its text; ARC-style `choices: {"text": [...], "label": [...]}` with `answerKey`
    work too. Their `answers` is the right choice's text."""
    if "choices" in row:
        return _choice_fields(row, where)
    if "text" in row and "label" in row and "question" not in row:  # POPE question files
        row = {**row, "question": row["text"], "answers": [row["label"]]}
    answers = row.get("answers", [row["answer"]] if "answer" in row else None)
    if answers is None:
        raise DataError(f"{where}: missing field 'answers' (or 'answer'); {FIX}")
    if isinstance(answers, str):
        answers = [answers]
    if not isinstance(answers, (list, tuple)):
        raise DataError(f"{where}: field 'answers' must be a list of strings, got "
                        f"{type(answers).__name__} {answers!r}; {FIX}")
    if row.get("question") is not None and not isinstance(row["question"], str):
        raise DataError(f"{where}: field 'question' must be a string, got "
                        f"{type(row['question']).__name__} {row['question']!r}; {FIX}")
    answers = [a["answer"] if isinstance(a, dict) and "answer" in a else a for a in answers]
    if not answers or not all(isinstance(a, (str, int, float)) for a in answers):
        raise DataError(f"{where}: field 'answers' must be a non-empty list of strings, got "
                        f"{row.get('answers')!r}; {FIX}")
    fields = {"question": str(row.get("question") or ""), "answers": tuple(str(a) for a in answers)}
    for key in ("answer_type", "question_type", "unit", "category", "setting", "relation", "pair"):
        if row.get(key) is not None:
            fields[key] = str(row[key])
    return fields


def _choice_fields(row: dict, where: str) -> dict:
    fix = ('write {"question": "...", "choices": ["a", "b", ...], "answer": 1} (an index, a '
           'letter or the choice text)')
    choices, labels = row["choices"], None
    if isinstance(choices, dict) and "text" in choices:  # ARC layout
        choices, labels = choices["text"], list(choices.get("label") or [])
    if not isinstance(choices, (list, tuple)) or len(choices) < 2:
        raise DataError(f"{where}: field 'choices' must list at least two choices; {fix}")
    choices = [str(c) for c in choices]
    answer = row.get("answer", row.get("answerKey", row.get("label")))
    if isinstance(answer, bool) or answer is None:
        raise DataError(f"{where}: missing field 'answer'; {fix}")
    letters = labels or [chr(ord("A") + i) for i in range(len(choices))]
    if isinstance(answer, int) and 0 <= answer < len(choices):
        index = answer
    elif isinstance(answer, str) and answer in letters:
        index = letters.index(answer)
    elif str(answer) in choices:
        index = choices.index(str(answer))
    else:
        raise DataError(f"{where}: field 'answer' is {answer!r}, which is neither an index, a "
                        f"letter nor the text of one of the {len(choices)} choices; {fix}")
    fields = {"question": str(row.get("question") or ""), "answers": (choices[index],),
              "choices": tuple(choices), "answer_index": index}
    if row.get("subject") is not None or row.get("category") is not None:
        fields["question_type"] = str(row.get("subject", row.get("category")))
    return fields
