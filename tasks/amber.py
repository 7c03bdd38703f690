"""amber: AMBER's discriminative questions (Wang et al., 2023) from the authors' files.

`--data amber=DIR --images IMAGES`: DIR is the authors' data folder (annotations.json and
query/query_all.json, or query_all.json beside it), or one of their query files
(query_discriminative.json, query_discriminative-existence.json, ...) with annotations.json in
its folder or the folder above; IMAGES holds AMBER_1.jpg ... Every question of the query file
whose annotation is not `generative` is asked as written; gold answers are annotations.json's
`truth` ("yes"/"no") for the query's id.

Metrics, as the authors' inference.py computes them: accuracy; precision, recall and F1 with
"no" as the positive class (precision: right "No" answers / "No" answers; recall: right "No"
answers / questions whose truth is no); overall and per dimension: existence
(discriminative-hallucination), attribute (state, number, action, each also alone) and
relation (discriminative-relation and relation).

Reading answers: `official` is the authors' check, the response exactly "Yes" or "No"
(vlmeval strips surrounding whitespace first); anything else is right for neither truth and
counts as unparsed here. `strict` reads the first word (yes/yeah/no/nope, any case).

Differences from inference.py, by choice: its counters start at 0.001 instead of 0 (so an
empty denominator gives 0, and every figure is off by up to 0.001/n), and its F1 takes the
precision and recall rounded to 0.1% plus 0.0001 in the denominator; vlmeval computes each
from the counts (NaN where a denominator is 0, F1 = 2 TP / (2 TP + FP + FN)). The authors print
percentages to one decimal; vlmeval keeps fractions at full precision.

The generative half (CHAIR, Cover, Hal, Cog over free descriptions) needs spaCy's
en_core_web_lg vectors and NLTK's tagger and WordNet data, which are neither shipped nor
installable from the package registry here; it is not built yet, and a query file with only
generative queries is refused with a message saying so.

CI units are images (AMBER_N.jpg).
"""

from __future__ import annotations

from pathlib import Path

from vlmeval.data.files import file_image, read_json, require
from vlmeval.errors import DataError
from vlmeval.parsing import check_policy, yes_no_exact, yes_no_strict
from vlmeval.records import Parsed, Request
from vlmeval.tasks.base import TASKS
from vlmeval.tasks.benchmark import Benchmark

# annotations.json's type -> the slices (dimensions) its questions count in
DIMENSIONS = {
    "discriminative-hallucination": ("existence",),
    "discriminative-attribute-state": ("attribute", "attribute/state"),
    "discriminative-attribute-number": ("attribute", "attribute/number"),
    "discriminative-attribute-action": ("attribute", "attribute/action"),
    "discriminative-relation": ("relation",),
    "relation": ("relation",),
}
FIX = "pass the authors' files unchanged (data/annotations.json and data/query/query_*.json)"


def find_files(path: Path) -> tuple[Path, Path]:
    """(query file, annotations.json) from the --data path (module docstring)."""
    if path.is_dir():
        query = next((q for q in (path / "query_all.json", path / "query" / "query_all.json")
                      if q.is_file()), None)
        if query is None:
            raise DataError(f"{path}: no query_all.json here or in {path / 'query'}; pass AMBER's "
                            f"data folder or one of its query files")
        folders = [path]
    else:
        query, folders = path, [path.parent, path.parent.parent]
    annotations = next((f / "annotations.json" for f in folders if (f / "annotations.json").is_file()),
                       None)
    if annotations is None:
        raise DataError(f"{path}: annotations.json not found in {' or '.join(map(str, folders))}; "
                        f"AMBER's gold answers are in data/annotations.json")
    return query, annotations


@TASKS.register("amber")
class Amber(Benchmark):
    """AMBER discriminative yes/no: accuracy, precision, recall, F1 ("no" positive) by dimension."""

    name = "amber"
    version = "1"
    headline = "f1"
    companions = ("accuracy", "yes_ratio")
    positive = "no"
    grid = ("accuracy", "precision", "recall", "f1", "yes_ratio")
    source = ("get data/ (annotations.json, query/) from the authors' repository, "
              "junyangwang0410/AMBER, and the images from the link in its README")
    authors_names = {"accuracy": "Accuracy", "precision": "Precision", "recall": "Recall",
                     "f1": "F1"}
    differences = (
        "precision, recall and F1 treat \"no\" as the positive class, as the authors do",
        "counts start at 0 (the authors' at 0.001): an empty denominator is NaN here, 0 there; "
        "F1 from the counts (the authors' from rounded percentages plus 0.0001)",
    )

    def load(self, path: Path, images: Path | None) -> list[Request]:
        query_path, annotations_path = find_files(path)
        queries, truths = read_json(query_path), read_json(annotations_path)
        for data, where in ((queries, query_path), (truths, annotations_path)):
            if not isinstance(data, list):
                raise DataError(f"{where}: expected a JSON list; {FIX}")
        root = images if images is not None else query_path.parent
        out = []
        for i, q in enumerate(queries):
            where = f"{query_path}: record {i}"
            qid = require(q, "id", where, FIX)
            if not isinstance(qid, int) or not 1 <= qid <= len(truths):
                raise DataError(f"{where}: field 'id' is {qid!r}; expected an id of "
                                f"{annotations_path} (1 to {len(truths)}); {FIX}")
            truth = truths[qid - 1]
            kind = require(truth, "type", f"{annotations_path}: record {qid - 1}", FIX)
            if kind == "generative":
                continue
            if kind not in DIMENSIONS:
                raise DataError(f"{annotations_path}: record {qid - 1}: field 'type' is {kind!r}; "
                                f"expected one of {', '.join(['generative', *DIMENSIONS])}")
            label = require(truth, "truth", f"{annotations_path}: record {qid - 1}", FIX)
            if label not in ("yes", "no"):
                raise DataError(f"{annotations_path}: record {qid - 1}: field 'truth' is "
                                f"{label!r}; a discriminative question's truth is yes or no")
            image_name = require(q, "image", where, FIX)
            out.append(Request(
                task=self.name, request_id=str(qid), sample_id=str(image_name),
                prompt=str(require(q, "query", where, FIX)),
                image=file_image(image_name, [root], f"{where} (field 'image')"),
                target=label.capitalize(), options=("Yes", "No"), max_new_tokens=8,
                meta={"label": label, "type": kind, "slices": DIMENSIONS[kind]}))
        if not out:
            raise DataError(f"{query_path}: only generative queries; vlmeval scores AMBER's "
                            f"discriminative questions (pass query_all.json or a "
                            f"query_discriminative*.json file): the generative metrics (CHAIR, "
                            f"Cover, Hal, Cog) need spaCy with en_core_web_lg and NLTK's tagger "
                            f"and WordNet data, and are not built yet")
        return out

    def parse(self, raw: str, policy: str) -> Parsed:
        return yes_no_exact(raw) if check_policy(policy) == "official" else yes_no_strict(raw)
