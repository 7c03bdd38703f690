"""VQAv2 in its official files: a questions JSON and an annotations JSON (v2_OpenEnded_mscoco_*
_questions.json, v2_mscoco_*_annotations.json), images named COCO_<subtype>_<12-digit id>.jpg."""

from __future__ import annotations

from pathlib import Path

from vlmeval.data.files import file_image, read_json, require
from vlmeval.errors import DataError
from vlmeval.records import Sample


def find_pair(folder: Path) -> tuple[Path, Path] | None:
    """The questions and annotations files of a folder, if it holds exactly one of each."""
    questions = sorted(folder.glob("*questions*.json"))
    annotations = sorted(folder.glob("*annotations*.json"))
    if len(questions) == 1 and len(annotations) == 1:
        return questions[0], annotations[0]
    return None


def load(questions_path: Path, annotations_path: Path, images: Path | None = None,
         limit: int | None = None) -> list[Sample]:
    """One Sample per question, in the questions file's order; fields: question, answers (the
    ten human answers), answer_type, question_type, unit (the image id: CIs resample images)."""
    questions = read_json(questions_path)
    annotations = read_json(annotations_path)
    qlist = require(questions, "questions", str(questions_path), "pass the official questions file")
    alist = require(annotations, "annotations", str(annotations_path),
                    "pass the official annotations file")
    subtype = questions.get("data_subtype") or annotations.get("data_subtype")
    by_id = {require(a, "question_id", f"{annotations_path}: annotations[{i}]"): a
             for i, a in enumerate(alist)}
    folder = questions_path.parent
    roots = [images] if images else [folder, folder / "images", *([folder / subtype] if subtype else [])]
    out = []
    for i, q in enumerate(qlist[:limit]):
        where = f"{questions_path}: questions[{i}]"
        qid = require(q, "question_id", where)
        image_id = require(q, "image_id", where)
        if qid not in by_id:
            raise DataError(f"{annotations_path}: no annotation for question_id {qid}; pass the "
                            f"annotations file that belongs to {questions_path.name}")
        ann = by_id[qid]
        answers = [require(a, "answer", f"{annotations_path}: question_id {qid} answers")
                   for a in require(ann, "answers", f"{annotations_path}: question_id {qid}")]
        name = f"COCO_{subtype}_{int(image_id):012d}.jpg" if subtype else f"{int(image_id):012d}.jpg"
        out.append(Sample(
            id=f"vqav2-{qid}", image=file_image(name, roots, where),
            fields={"question": require(q, "question", where), "answers": tuple(answers),
                    "answer_type": ann.get("answer_type", "other"),
                    "question_type": ann.get("question_type", "none of the above"),
                    "unit": f"image-{image_id}"}))
    return out
