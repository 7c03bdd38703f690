"""tallyqa and countbench: the public counting benchmarks, scored by the counting task's metrics
(exact and off-by-one accuracy, MAE, RMSE, the majority baseline, unparsed counted).

- tallyqa (Acharya et al., AAAI 2019): `--data tallyqa=test.json --images DIR`, the authors'
  test file (a JSON list of image, question, answer, issimple, image_id, question_id, ...) and
  the folder holding the Visual Genome and COCO folders it names (VG_100K/, VG_100K_2/,
  train2014/, val2014/). The authors report accuracy and RMSE on the simple and complex
  questions separately: each metric is also given under simple/ and complex/. CI units are
  images.
- countbench (Paiss et al., ICCV 2023, "Teaching CLIP to Count"), as the question-answering
  release CountBenchQA: `--data countbench=FILE.parquet` with columns image (embedded bytes),
  question, number (2 to 10). The original CountBench has captions and image URLs only, no
  questions; this reads the QA layout. CI units are images (rows).
"""

from __future__ import annotations

from pathlib import Path

from vlmeval.data import hf
from vlmeval.data.files import file_image, read_json, require
from vlmeval.errors import DataError
from vlmeval.parsing import LARGEST_COUNT
from vlmeval.records import Request
from vlmeval.tasks.base import TASKS
from vlmeval.tasks.benchmark import first_units, require_data
from vlmeval.tasks.counting import CountingTask


def _count(value, where: str, field: str, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= LARGEST_COUNT:
        raise DataError(f"{where}: field {field!r} is {value!r}; expected a whole number from 0 "
                        f"to {LARGEST_COUNT}; {fix}")
    return value


class CountingBenchmark(CountingTask):
    """A counting benchmark read from its authors' files only."""

    needs_data = True
    source = ""

    def requests(self) -> list[Request]:
        return first_units(self.load(*require_data(self)), self.limit)

    def load(self, path: Path, images: Path | None) -> list[Request]:
        raise NotImplementedError

    def request(self, rid: str, unit: str, question: str, image, count: int, slices=()) -> Request:
        return Request(task=self.name, request_id=rid, sample_id=unit, prompt=question, image=image,
                       target=str(count), max_new_tokens=8,
                       meta={"category": None, "count": count, "slices": tuple(slices)})


@TASKS.register("tallyqa")
class TallyQA(CountingBenchmark):
    """TallyQA counting questions: accuracy and RMSE, overall and on simple / complex."""

    name = "tallyqa"
    version = "1"
    source = "get test.json from the authors' repository (manoja328/TallyQA_dataset) and its images"

    def load(self, path: Path, images: Path | None) -> list[Request]:
        fix = "pass TallyQA's test.json (or train.json) unchanged"
        rows = read_json(path)
        if not isinstance(rows, list):
            raise DataError(f"{path}: expected a JSON list of questions; {fix}")
        root = images if images is not None else path.parent
        out = []
        for i, row in enumerate(rows):
            where = f"{path}: record {i}"
            count = _count(require(row, "answer", where, fix), where, "answer", fix)
            simple = require(row, "issimple", where, fix)
            image_name = require(row, "image", where, fix)
            out.append(self.request(
                str(row.get("question_id", i)), str(row.get("image_id", image_name)),
                str(require(row, "question", where, fix)),
                file_image(image_name, [root], f"{where} (field 'image')"), count,
                ("simple" if simple else "complex",)))
        return out


@TASKS.register("countbench")
class CountBench(CountingBenchmark):
    """CountBench (CountBenchQA layout): how many, 2 to 10, exact accuracy."""

    name = "countbench"
    version = "1"
    source = "get the CountBenchQA parquet file (question, number, image)"

    def load(self, path: Path, images: Path | None) -> list[Request]:
        fix = "pass the CountBenchQA parquet file (columns image, question, number) unchanged"
        out = []
        for where, row, image in hf.benchmark_rows(path, ("question",), fix):
            count = _count(row.get("number"), where, "number", fix)
            rid = where.rpartition(" ")[2]
            out.append(self.request(rid, rid, str(row["question"]), image, count))
        return out
