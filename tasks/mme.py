"""mme: MME (Fu et al., 2023), yes/no questions in pairs, from a local copy.

`--data mme=PATH`: the authors' release folder (MME_Benchmark_release_version: one folder per
subtask, each image with a .txt of "question<TAB>answer" lines beside it, or in `images/` and
`questions_answers_YN/`), or the parquet layout evaluation toolkits distribute (columns
question_id, image with embedded bytes, question, answer, category). Every subtask present is
asked; each image has two questions, one whose answer is yes and one no.

Metrics, as the authors' eval_tool/calculation.py computes them, per subtask: accuracy (acc,
over questions), image_accuracy (acc+, images with both questions right) and score = 100 x
(acc + acc+); perception_score and cognition_score sum the scores of the subtasks present of
each kind (the paper's totals when all ten perception and four cognition subtasks are run;
the hallucination subset, existence/count/position/color, has a maximum of 800).

Answers are read with the authors' rule (`yes_no_prefix`: lower-cased, "yes"/"no" itself,
else yes/no in the first four characters); `strict` reads the first word. Neither is unparsed
here and wrong in both. CI units are images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vlmeval.data import hf
from vlmeval.data.files import file_image
from vlmeval.errors import DataError
from vlmeval.parsing import check_policy, yes_no_prefix, yes_no_strict
from vlmeval.records import Parsed, Request
from vlmeval.stats import CountTable
from vlmeval.tasks.base import TASKS
from vlmeval.tasks.benchmark import Benchmark, answer_table

PERCEPTION = ("existence", "count", "position", "color", "posters", "celebrity", "scene",
              "landmark", "artwork", "OCR")
COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")
IMAGE_SUFFIXES = (".jpg", ".png", ".jpeg", ".JPG", ".PNG")
FIX = "pass MME's release folder or its parquet file unchanged"


@TASKS.register("mme")
class MME(Benchmark):
    """MME yes/no pairs: acc, acc+ and score per subtask; perception and cognition totals."""

    name = "mme"
    version = "1"
    headline = "perception_score"
    companions = ("accuracy", "image_accuracy")
    group_kinds = ("image",)
    grid = ("accuracy", "image_accuracy", "score")
    source = ("MME_Benchmark_release_version from the authors (BradyFU/Awesome-Multimodal-"
              "Large-Language-Models, Evaluation), or its parquet copy")
    authors_names = {"accuracy": "acc", "image_accuracy": "acc+", "score": "score (acc + acc+)",
                     "perception_score": "Perception", "cognition_score": "Cognition"}

    def load(self, path: Path, images: Path | None) -> list[Request]:
        items = self._parquet(path) if hf.is_dataset(path) else self._folders(path, images)
        out = []
        for n, (where, subtask, image_name, image, question, answer) in enumerate(items):
            label = str(answer).strip().lower()
            if label not in ("yes", "no"):
                raise DataError(f"{where}: answer {answer!r} is not Yes or No; {FIX}")
            unit = f"{subtask}/{image_name}"
            out.append(Request(
                task=self.name, request_id=f"{unit}/{n}", sample_id=unit, prompt=question,
                image=image, target=label.capitalize(), options=("Yes", "No"), max_new_tokens=8,
                meta={"label": label, "slices": (subtask,), "groups": {"image": unit}}))
        if not out:
            raise DataError(f"{path}: no MME questions found; {FIX}")
        return out

    def _parquet(self, path: Path):
        for where, row, image in hf.benchmark_rows(
                path, ("question_id", "question", "answer", "category"), FIX):
            yield where, str(row["category"]), str(row["question_id"]), image, row["question"], row["answer"]

    def _folders(self, path: Path, images: Path | None):
        if not path.is_dir():
            raise DataError(f"{path}: expected MME's release folder (one folder per subtask) or "
                            f"a parquet file; {FIX}")
        subtasks = sorted(d for d in path.iterdir() if d.is_dir())
        for folder in subtasks:
            qa = folder / "questions_answers_YN"
            texts, image_dir = (qa, folder / "images") if qa.is_dir() else (folder, folder)
            if images is not None:
                image_dir = images / folder.name / image_dir.relative_to(folder)
            for txt in sorted(texts.glob("*.txt")):
                name = next((txt.stem + s for s in IMAGE_SUFFIXES
                             if (image_dir / (txt.stem + s)).is_file()), None)
                if name is None:
                    raise DataError(f"{txt}: no image {txt.stem}.jpg or .png in {image_dir}; {FIX}")
                image = file_image(name, [image_dir], str(txt))
                for k, line in enumerate(txt.read_text(encoding="utf-8").splitlines(), 1):
                    if not line.strip():
                        continue
                    question, tab, answer = line.rpartition("\t")
                    if not tab:
                        raise DataError(f"{txt}:{k}: expected question<TAB>answer; {FIX}")
                    yield f"{txt}:{k}", folder.name, name, image, question.strip(), answer

    def score(self, records: Sequence[dict[str, Any]], policy: str, seed: int):
        scored = super().score(records, policy, seed)
        present = sorted({r["meta"]["slices"][0] for r in records})
        for kind, names in (("perception", PERCEPTION), ("cognition", COGNITION)):
            mine = [s for s in present if s in names]
            scored["notes"].append(f"{kind}_score sums the {len(mine)} of {len(names)} {kind} "
                                   f"subtasks run: {', '.join(mine)}" if mine else
                                   f"{kind}_score: no {kind} subtask was run (NaN)")
        return scored

    def parse(self, raw: str, policy: str) -> Parsed:
        return yes_no_prefix(raw) if check_policy(policy) == "official" else yes_no_strict(raw)

    def count_table(self, records: Sequence[dict[str, Any]], policy: str) -> CountTable:
        table = answer_table(records, lambda r: self.read(r, policy), self.group_kinds, None)
        subtasks = sorted({r["meta"]["slices"][0] for r in records})
        for s in subtasks:
            acc, plus = table.metrics[f"{s}/accuracy"], table.metrics[f"{s}/image_accuracy"]
            table.metrics[f"{s}/score"] = lambda c, acc=acc, plus=plus: 100.0 * (acc(c) + plus(c))
            table.n_of[f"{s}/score"] = table.n_of[f"{s}/image_accuracy"]
        for kind, names in (("perception", PERCEPTION), ("cognition", COGNITION)):
            present = [s for s in subtasks if s in names]
            scores = [table.metrics[f"{s}/score"] for s in present]
            images = [table.n_of[f"{s}/image_accuracy"] for s in present]
            table.metrics[f"{kind}_score"] = (lambda c, scores=scores: sum(f(c) for f in scores)) \
                if present else (lambda c: np.full(np.shape(c)[:-1], np.nan))
            table.n_of[f"{kind}_score"] = (lambda c, images=images: sum(f(c) for f in images)) \
                if present else (lambda c: np.zeros(np.shape(c)[:-1]))
        return table
