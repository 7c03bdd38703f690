"""hallusionbench: HallusionBench (Guan et al., CVPR 2024) from the authors' HallusionBench.json.

`--data hallusionbench=HallusionBench.json --images DIR`, DIR holding the authors' image folder
(VD/..., VS/... as the file's `filename` fields name them). Every question of the file is
asked, the 178 with `visual_input` "0" without an image, as the authors do. Gold answers:
`gt_answer` "1" is yes, "0" no.

Metrics, as the authors' utils.py computes them (their names in results' `authors_names`):
- accuracy (aAcc, "Acc per question"): right questions / questions;
- figure_accuracy (fAcc, "Acc per figure"): a figure (category, subcategory, set_id,
  figure_id) is right when all its questions are; the visual-supplement questions without a
  figure (VS, figure_id "0") belong to no figure;
- pair_accuracy (qAcc, "Acc per question pair"): a question (category, subcategory, set_id,
  question_id) asked of all its figure versions is right when every version is;
- easy_pair_accuracy / hard_pair_accuracy: the same over the original figures (figure_id
  "0") and over the edited ones;
each overall, per category (VD visual dependent, VS visual supplement) and per subcategory.

Judge-free: the authors have GPT-4 read each free-form answer against `gt_answer_details`;
vlmeval reads yes/no without a judge. `official` is `yes_no_word` (the word yes and not no, or
the reverse), `strict` the answer's first word; anything else is unparsed, counted as wrong
(the judge's "unclear" is wrong in the authors' code too) and shown. An answer a judge would
have read (a correct figure without the word yes) can therefore be scored lower here.

CI units are question sets (category, subcategory, set_id), which hold whole figures and pairs.
"""

from __future__ import annotations

from pathlib import Path

from vlmeval.data.files import file_image, read_json, require
from vlmeval.errors import DataError
from vlmeval.parsing import check_policy, yes_no_strict, yes_no_word
from vlmeval.records import Parsed, Request
from vlmeval.tasks.base import TASKS
from vlmeval.tasks.benchmark import Benchmark

FIELDS = ("category", "subcategory", "visual_input", "set_id", "figure_id", "question_id",
          "question", "gt_answer")
FIX = "pass the authors' HallusionBench.json unchanged"


@TASKS.register("hallusionbench")
class HallusionBench(Benchmark):
    """HallusionBench yes/no questions: aAcc, fAcc, qAcc by category and subcategory."""

    name = "hallusionbench"
    version = "1"
    headline = "accuracy"
    companions = ("figure_accuracy", "pair_accuracy")
    group_kinds = ("figure", "pair", "easy_pair", "hard_pair")
    grid = ("accuracy", "figure_accuracy", "pair_accuracy", "easy_pair_accuracy", "hard_pair_accuracy")
    source = ("get HallusionBench.json and the images (hallusion_bench.zip) from the authors' "
              "repository, tianyi-lab/HallusionBench")
    authors_names = {"accuracy": "aAcc (Acc per question)", "figure_accuracy": "fAcc (Acc per figure)",
                     "pair_accuracy": "qAcc (Acc per question pair)",
                     "easy_pair_accuracy": "Acc per easy question",
                     "hard_pair_accuracy": "Acc per hard question"}
    differences = ("judge-free: the authors have GPT-4 judge each answer; here yes/no is read "
                   "from the answer's words and anything else is unparsed (wrong, counted)",)

    def load(self, path: Path, images: Path | None) -> list[Request]:
        rows = read_json(path)
        if not isinstance(rows, list):
            raise DataError(f"{path}: expected a JSON list of questions (HallusionBench.json); {FIX}")
        root = images if images is not None else path.parent
        out = []
        for i, row in enumerate(rows):
            where = f"{path}: record {i}"
            values = {f: str(require(row, f, where, FIX)) for f in FIELDS}
            if values["gt_answer"] not in ("0", "1"):
                raise DataError(f"{where}: field 'gt_answer' is {row['gt_answer']!r}; expected "
                                f"\"1\" (yes) or \"0\" (no); {FIX}")
            image = None
            if values["visual_input"] != "0":
                if not row.get("filename"):
                    raise DataError(f"{where}: field 'filename' is empty but visual_input is "
                                    f"{values['visual_input']!r} (a question with an image); {FIX}")
                image = file_image(row["filename"], [root], f"{where} (field 'filename')")
            category, sub, figure = values["category"], values["subcategory"], values["figure_id"]
            unit = f"{category}/{sub}/{values['set_id']}"
            pair = f"{unit}/q{values['question_id']}"
            label = "yes" if values["gt_answer"] == "1" else "no"
            out.append(Request(
                task=self.name, request_id=f"{unit}/{figure}/{values['question_id']}",
                sample_id=unit, prompt=values["question"], image=image, target=label,
                options=("yes", "no"), max_new_tokens=32,
                meta={"label": label, "slices": (category, f"{category}/{sub}"),
                      "groups": {"figure": None if category == "VS" and figure == "0"
                                 else f"{unit}/figure{figure}",
                                 "pair": pair,
                                 "easy_pair": pair if figure == "0" else None,
                                 "hard_pair": pair if figure != "0" else None},
                      "visual_input": values["visual_input"]}))
        return out

    def parse(self, raw: str, policy: str) -> Parsed:
        return yes_no_word(raw) if check_policy(policy) == "official" else yes_no_strict(raw)
