"""vsr: Visual Spatial Reasoning (Liu et al., TACL 2023), true/false captions about COCO images.

`--data vsr=FILE --images DIR`: one of the authors' split files (JSON lines of image, caption,
label 1/0, relation, subj, obj, ...; e.g. splits/zeroshot/test.jsonl) and the folder with the
COCO 2017 images they name. Each caption is asked as a yes/no question: 'Is the following
statement about the image true? "{caption}" Answer yes or no.' (the authors trained
classifiers, not generative models; this prompt is vlmeval's and is recorded with every
sample). Gold: label 1 is yes.

Metrics: accuracy, as the authors report it, overall and per relation (66 relations), plus
yes_ratio and unparsed_rate. The paper's seven relation categories (adjacency, directional,
...) are not broken down here. `official` reads yes/no anywhere in the answer (`yes_no_word`),
`strict` its first word. CI units are images.
"""

from __future__ import annotations

from pathlib import Path

from vlmeval.data.files import file_image, json_lines, require
from vlmeval.errors import DataError
from vlmeval.parsing import check_policy, yes_no_strict, yes_no_word
from vlmeval.records import Parsed, Request
from vlmeval.tasks.base import TASKS
from vlmeval.tasks.benchmark import Benchmark

PROMPT = 'Is the following statement about the image true? "{caption}" Answer yes or no.'
FIX = "pass one of VSR's split files (JSON lines) unchanged"


@TASKS.register("vsr")
class VSR(Benchmark):
    """VSR true/false spatial captions as yes/no: accuracy overall and per relation."""

    name = "vsr"
    version = "1"
    headline = "accuracy"
    grid = ("accuracy", "yes_ratio")
    source = ("get a split file (e.g. splits/zeroshot/test.jsonl) from the authors' repository, "
              "cambridgeltl/visual-spatial-reasoning, and the COCO 2017 images it names")
    authors_names = {"accuracy": "accuracy"}

    def load(self, path: Path, images: Path | None) -> list[Request]:
        if not path.is_file():
            raise DataError(f"{path}: expected one of VSR's split files (JSON lines); {FIX}")
        root = images if images is not None else path.parent
        out = []
        for n, (where, row) in enumerate(json_lines(path, FIX), 1):
            label = require(row, "label", where, FIX)
            if label not in (0, 1):
                raise DataError(f"{where}: field 'label' is {label!r}; expected 1 (true) or 0 "
                                f"(false); {FIX}")
            image_name = require(row, "image", where, FIX)
            relation = str(require(row, "relation", where, FIX))
            answer = "yes" if label == 1 else "no"
            out.append(Request(
                task=self.name, request_id=str(row.get("id", n)), sample_id=str(image_name),
                prompt=PROMPT.format(caption=str(require(row, "caption", where, FIX)).strip()),
                image=file_image(image_name, [root], f"{where} (field 'image')"),
                target=answer, options=("yes", "no"), max_new_tokens=8,
                meta={"label": answer, "relation": relation, "slices": (relation,)}))
        return out

    def parse(self, raw: str, policy: str) -> Parsed:
        return yes_no_word(raw) if check_policy(policy) == "official" else yes_no_strict(raw)
