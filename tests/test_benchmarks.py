"""The named benchmarks on their authors' files: the real HallusionBench and AMBER question files
(tests/fixtures/benchmarks, copied from ../shared/data) with generated placeholder images, and
small hand-checked files in the same layouts (tests/data_fixtures.py).

Expected figures are derived here from the files with the authors' definitions, independently
of the task code: oracle 1.0, always-yes from the gold answers, blind by hand."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import pytest

from data_fixtures import (AMBER_ROWS, HALLUSION_ROWS, MME_ITEMS, MMSTAR_ROWS, NATURALBENCH_ROWS,
                           TALLYQA_ROWS, VSR_ROWS, _placeholders, amber_folder,
                           countbench_parquet, hallusionbench_file, mme_folder, mme_parquet,
                           mmstar_parquet, naturalbench_parquet, tallyqa_file, vsr_file)
from vlmeval.cli import main
from vlmeval.parsing import yes_no_exact, yes_no_prefix, yes_no_word

FIXTURES = Path(__file__).parent / "fixtures" / "benchmarks"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
HALLUSION = FIXTURES / "hallusionbench" / "HallusionBench.json"
AMBER = FIXTURES / "amber"


def _run(tmp_path, model, task, data, images, *extra) -> dict:
    out = tmp_path / "-".join((task, model, *extra))
    where = ["--images", str(images)] if images is not None else []
    assert main(["run", "--model", f"baseline:{model}", "--data", f"{task}={data}", *where,
                 "--out", str(out), "-q", *extra]) == 0
    return json.loads((out / "results.json").read_text())["tasks"][task]


def _values(result) -> dict:
    return {k: math.nan if m["value"] is None else m["value"] for k, m in result["metrics"].items()}


def _check(values: dict, expected: dict) -> None:
    for name, value in expected.items():
        got = values[name]
        assert (math.isnan(got) and math.isnan(value)) or got == pytest.approx(value, abs=1e-12), name


@pytest.mark.parametrize("folder", ["hallusionbench", "amber"])
def test_the_copied_question_files_equal_the_shared_ones(folder):
    if not (SHARED / folder).is_dir():
        pytest.skip(f"{SHARED / folder} is not on this machine")
    for path in (SHARED / folder).iterdir():
        assert (FIXTURES / folder / path.name).read_bytes() == path.read_bytes(), path.name


# --- HallusionBench -------------------------------------------------------------------------

def _hallusion_expected(rows, right) -> dict:
    """The authors' aAcc, fAcc, qAcc (utils.py) overall, per category and subcategory, for
    `right(row)`, computed from the file's rows."""
    out = {}
    slices = {"": rows}
    for r in rows:
        slices.setdefault(r["category"], []).append(r)
        slices.setdefault(f"{r['category']}/{r['subcategory']}", []).append(r)
    for name, members in slices.items():
        prefix = f"{name}/" if name else ""
        figures, pairs, easy, hard = (defaultdict(list) for _ in range(4))
        for r in members:
            key = (r["category"], r["subcategory"], r["set_id"])
            if not (r["category"] == "VS" and r["figure_id"] == "0"):
                figures[key + (r["figure_id"],)].append(right(r))
            pairs[key + (r["question_id"],)].append(right(r))
            (easy if r["figure_id"] == "0" else hard)[key + (r["question_id"],)].append(right(r))
        share = lambda groups: sum(map(all, groups.values())) / len(groups) if groups else math.nan  # noqa: E731
        out.update({f"{prefix}accuracy": sum(map(right, members)) / len(members),
                    f"{prefix}figure_accuracy": share(figures), f"{prefix}pair_accuracy": share(pairs),
                    f"{prefix}easy_pair_accuracy": share(easy), f"{prefix}hard_pair_accuracy": share(hard)})
    return out


@pytest.fixture(scope="module")
def hallusion_images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hallusion_images")
    rows = json.loads(HALLUSION.read_text())
    _placeholders(folder, sorted({r["filename"] for r in rows if r["filename"]}))
    return folder


def test_hallusionbench_oracle_scores_one_on_the_authors_file(hallusion_images, tmp_path):
    rows = json.loads(HALLUSION.read_text())
    result = _run(tmp_path, "oracle", "hallusionbench", HALLUSION, hallusion_images)
    values = _values(result)
    assert result["n_requests"] == len(rows) == 1129 and result["metrics"]["accuracy"]["n"] == 1129
    accuracies = {k: v for k, v in values.items() if k.endswith("accuracy")}
    assert len(accuracies) == 5 * (1 + 2 + 9)  # overall, VD/VS, nine subcategories
    assert all(v == 1.0 for v in accuracies.values()), accuracies
    assert values["unparsed_rate"] == 0.0
    assert values["yes_ratio"] == sum(r["gt_answer"] == "1" for r in rows) / len(rows)
    assert result["authors_names"]["pair_accuracy"].startswith("qAcc")
    assert result["authors_names"]["VD/figure_accuracy"].startswith("VD fAcc")


def test_hallusionbench_always_yes_gives_the_authors_formulas(hallusion_images, tmp_path):
    rows = json.loads(HALLUSION.read_text())
    result = _run(tmp_path, "always-yes", "hallusionbench", HALLUSION, hallusion_images)
    expected = _hallusion_expected(rows, lambda r: r["gt_answer"] == "1")
    _check(_values(result), expected)
    assert expected["accuracy"] == pytest.approx(484 / 1129)  # the file's yes answers
    assert result["metrics"]["figure_accuracy"]["n"] == 346 and result["metrics"]["pair_accuracy"]["n"] == 455


def test_hallusionbench_fixture_by_hand(tmp_path):
    data, images = hallusionbench_file(tmp_path / "data")
    oracle = _values(_run(tmp_path, "oracle", "hallusionbench", data, images))
    assert all(v == 1.0 for k, v in oracle.items() if k.endswith("accuracy"))
    # always yes: right on rows 1, 2, 5, 6 of seven. Figures {2} {3} {4,5} {6,7}: one right.
    # Pairs {1,2,3} {4,6} {5,7}: none; easy {1} {4} {5}: two; hard {2,3} {6} {7}: one.
    yes = _values(_run(tmp_path, "always-yes", "hallusionbench", data, images))
    _check(yes, {"accuracy": 4 / 7, "figure_accuracy": 1 / 4, "pair_accuracy": 0.0,
                 "easy_pair_accuracy": 2 / 3, "hard_pair_accuracy": 1 / 3, "yes_ratio": 1.0,
                 "VS/accuracy": 2 / 3, "VD/accuracy": 2 / 4, "VS/figure_accuracy": 1 / 2,
                 "VD/figure_accuracy": 0.0})
    # blind says Yes only to "Is there a star in the image?" (rows 4, 6): right on 3, 6, 7.
    blind = _values(_run(tmp_path, "blind", "hallusionbench", data, images))
    _check(blind, {"accuracy": 3 / 7, "yes_ratio": 2 / 7, "figure_accuracy": 2 / 4,
                   "pair_accuracy": 0.0, "easy_pair_accuracy": 0.0, "hard_pair_accuracy": 2 / 3,
                   "VD/figure_accuracy": 1 / 2, "VS/hard_pair_accuracy": 0.0})
    assert len(HALLUSION_ROWS) == 7


def test_the_probes_run_over_a_benchmark_from_its_files(tmp_path):
    """blind:hallusionbench and image_swap:hallusionbench: --data goes to the base task."""
    data, images = hallusionbench_file(tmp_path / "data")
    for model, flip in (("oracle", 1.0), ("always-yes", 0.0)):
        out = tmp_path / f"swap-{model}"
        assert main(["run", "--model", f"baseline:{model}", "--tasks", "image_swap:hallusionbench",
                     "--data", f"image_swap:hallusionbench={data}", "--images", str(images),
                     "--out", str(out), "-q"]) == 0
        swap = json.loads((out / "results.json").read_text())["tasks"]["image_swap:hallusionbench"]
        # each question asked of figures with opposite answers: VS q0 (figures 1, 2), VD q0, q1
        assert swap["metrics"]["flip_rate"]["value"] == flip and swap["metrics"]["flip_rate"]["n"] > 0
    out = tmp_path / "blind"
    assert main(["run", "--model", "baseline:oracle", "--tasks", "blind:hallusionbench", "--data",
                 f"blind:hallusionbench={data}", "--images", str(images), "--out", str(out), "-q"]) == 0
    blind = json.loads((out / "results.json").read_text())["tasks"]["blind:hallusionbench"]
    assert blind["metrics"]["original/accuracy"]["value"] == 1.0


def test_limit_keeps_whole_units_so_groups_stay_whole(tmp_path):
    data, images = hallusionbench_file(tmp_path / "data")
    result = _run(tmp_path, "always-yes", "hallusionbench", data, images, "--limit", "1")
    # the first unit is the VS chart set: its three questions (one pair, two figures)
    assert result["n_requests"] == 3
    _check(_values(result), {"pair_accuracy": 0.0, "figure_accuracy": 1 / 2, "accuracy": 2 / 3})


def test_hallusionbench_reads_answers_without_a_judge():
    assert yes_no_word("Yes, the bar for 2018 is taller.").answer == "yes"
    assert yes_no_word("No. They are the same length").answer == "no"
    assert yes_no_word("Yes and no.").status == "unparsed"
    assert yes_no_word("The bar is taller.").status == "unparsed"


# --- AMBER ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def amber_images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("amber_images")
    queries = json.loads((AMBER / "query_all.json").read_text())
    _placeholders(folder, sorted({q["image"] for q in queries}))
    return folder


DIMENSIONS = {"discriminative-hallucination": ["existence"],
              "discriminative-attribute-state": ["attribute", "attribute/state"],
              "discriminative-attribute-number": ["attribute", "attribute/number"],
              "discriminative-attribute-action": ["attribute", "attribute/action"],
              "discriminative-relation": ["relation"], "relation": ["relation"]}


def test_amber_oracle_and_always_yes_on_the_authors_files(amber_images, tmp_path):
    truths = json.loads((AMBER / "annotations.json").read_text())
    asked = [t for t in truths if t["type"] != "generative"]
    oracle = _run(tmp_path, "oracle", "amber", AMBER, amber_images)
    assert oracle["n_requests"] == len(asked) == 14216
    assert all(v == 1.0 for k, v in _values(oracle).items()
               if k.rpartition("/")[2] in ("accuracy", "precision", "recall", "f1"))
    # Always yes, with the authors' definitions ("no" is the positive class): accuracy is the
    # share of yes truths, recall 0 and F1 0; precision has no "No" answer to divide by: NaN
    # with n = 0 here (the authors' counters start at 0.001, so their code prints 0).
    result = _run(tmp_path, "always-yes", "amber", AMBER, amber_images)
    slices = defaultdict(list)
    for t in asked:
        for s in ["", *DIMENSIONS[t["type"]]]:
            slices[s].append(t["truth"])
    expected = {}
    for s, labels in slices.items():
        prefix = f"{s}/" if s else ""
        expected.update({f"{prefix}accuracy": labels.count("yes") / len(labels),
                         f"{prefix}recall": 0.0, f"{prefix}f1": 0.0,
                         f"{prefix}precision": math.nan, f"{prefix}yes_ratio": 1.0})
    _check(_values(result), expected)
    assert result["metrics"]["precision"]["n"] == 0
    assert result["metrics"]["recall"]["n"] == 9427 and result["headline"] == "f1"
    assert result["authors_names"]["existence/f1"] == "existence F1"


def test_amber_fixture_by_hand(tmp_path):
    data, images = amber_folder(tmp_path / "data")
    oracle = _run(tmp_path, "oracle", "amber", data, images)
    assert oracle["n_requests"] == len(AMBER_ROWS) - 1  # the generative query is not asked
    # always yes: truths yes on 2, 5, 7 of the seven asked
    _check(_values(_run(tmp_path, "always-yes", "amber", data, images)),
           {"accuracy": 3 / 7, "recall": 0.0, "f1": 0.0, "precision": math.nan,
            "existence/accuracy": 1 / 2, "attribute/accuracy": 1 / 3, "attribute/state/accuracy": 0.0,
            "attribute/number/accuracy": 1.0, "relation/accuracy": 1 / 2})
    # blind says No to all (no "in the image?" question): TP 4 (truth no), FP 3, FN 0
    _check(_values(_run(tmp_path, "blind", "amber", data, images)),
           {"accuracy": 4 / 7, "precision": 4 / 7, "recall": 1.0, "f1": 8 / 11, "yes_ratio": 0.0,
            "existence/precision": 1 / 2, "existence/f1": 2 / 3, "attribute/f1": 4 / 5,
            "relation/recall": 1.0})


def test_amber_reads_answers_as_the_authors_do():
    assert yes_no_exact(" Yes\n").answer == "yes" and yes_no_exact("No").answer == "no"
    assert all(yes_no_exact(t).status == "unparsed" for t in ("yes", "Yes.", "Yes, there is", ""))


# --- MME -------------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", [mme_folder, mme_parquet])
def test_mme_by_hand_in_both_layouts(layout, tmp_path):
    data, images = layout(tmp_path / "data")  # the images are inside the folder or the file
    run = lambda model: _values(_run(tmp_path, model, "mme", data, images))  # noqa: E731
    oracle = run("oracle")
    assert len(MME_ITEMS) == 3 and oracle["perception_score"] == 400.0  # two subtasks, 200 each
    assert oracle["existence/image_accuracy"] == 1.0 and math.isnan(oracle["cognition_score"])
    # always yes: right on one question of each image, so acc 0.5 and acc+ 0 everywhere
    _check(run("always-yes"), {"existence/accuracy": 0.5, "existence/image_accuracy": 0.0,
                               "existence/score": 50.0, "artwork/score": 50.0,
                               "perception_score": 100.0, "image_accuracy": 0.0})
    # blind: Yes to star and circle only; image 000 both right, 001 both wrong, artwork No/No
    _check(run("blind"), {"existence/accuracy": 0.5, "existence/image_accuracy": 0.5,
                          "existence/score": 100.0, "artwork/accuracy": 0.5, "artwork/score": 50.0,
                          "perception_score": 150.0})


def test_mme_reads_answers_as_the_authors_do():
    assert yes_no_prefix("Yes").answer == "yes" and yes_no_prefix("no.").answer == "no"
    assert yes_no_prefix("Yes, there is a dog").answer == "yes"
    assert yes_no_prefix("Not at all").answer == "no"  # "no" within the first four characters
    assert yes_no_prefix("There is no dog").status == "unparsed"


# --- multiple choice: MMStar ---------------------------------------------------------------

class FirstRotationOnly:
    """Answers the gold letter when the options are in the file's order, else always "A"."""

    name = "first-rotation-only"
    fingerprint = "first-rotation-only@1"
    capabilities = frozenset({"generate"})

    def generate(self, requests):
        return [r.target if r.request_id.endswith(("rotation0", "/0")) or "rotation" not in r.request_id
                else "A" for r in requests]

    def info(self):
        return {"params": 0, "image_tokens": 0}

    def counters(self):
        return {}


def test_mmstar_by_hand_plain_and_circular(tmp_path):
    from vlmeval.runner import RunConfig, run

    data, _ = mmstar_parquet(tmp_path / "data")
    oracle = _run(tmp_path, "oracle", "mmstar", data, None)
    assert oracle["n_requests"] == 4 and _values(oracle)["accuracy"] == 1.0
    assert set(_values(oracle)) >= {"coarse perception/accuracy", "math/geometry/accuracy"}
    # "Yes" is no option letter: unparsed, wrong, and counted
    yes = _values(_run(tmp_path, "always-yes", "mmstar", data, None))
    _check(yes, {"accuracy": 0.0, "unparsed_rate": 1.0})
    # blind says "No" to questions that are not "Is there a ...": no letter either
    _check(_values(_run(tmp_path, "blind", "mmstar", data, None)),
           {"accuracy": 0.0, "unparsed_rate": 1.0, "math/accuracy": 0.0})
    circular = _run(tmp_path, "oracle", "mmstar", data, None, "--circular")
    assert circular["n_requests"] == 16  # four rotations of four options
    _check(_values(circular), {"accuracy": 1.0, "circular_accuracy": 1.0})
    # right in the file's order only; "A" elsewhere is right in exactly one of the three other
    # rotations of each question (where the gold option comes first): circular 0 of 4
    result = run(RunConfig(model="first", tasks=("mmstar",), data={"mmstar": data},
                           task_options={"circular": True}, out=tmp_path / "first"),
                 FirstRotationOnly())
    metrics = result.results["tasks"]["mmstar"]["metrics"]
    assert metrics["accuracy"]["value"] == 1.0 and metrics["circular_accuracy"]["value"] == 0.0
    assert metrics["circular_accuracy"]["n"] == 4 and len(MMSTAR_ROWS) == 4


def test_mmstar_reads_options_and_answers_as_the_authors_do():
    from vlmeval.tasks.mmstar import mmstar_letter, split_options

    assert split_options("Q?\nOptions: A: 3, B: 5, C: 22, D: 4") == ("Q?", ["3", "5", "22", "4"])
    assert split_options("Q? (no options)") is None
    letters = ("A", "B", "C", "D")
    assert [mmstar_letter(t, letters).answer for t in ("B", "(c) a city", "Option D",
                                                        "The answer is a", "a cat")] == list("BCDAA")
    assert mmstar_letter("I think B", letters).status == "unparsed"


# --- NaturalBench, VSR, TallyQA, CountBench --------------------------------------------------

def test_naturalbench_by_hand(tmp_path):
    data, _ = naturalbench_parquet(tmp_path / "data")
    run = lambda model: _values(_run(tmp_path, model, "naturalbench", data, None))  # noqa: E731
    oracle = run("oracle")
    assert all(oracle[k] == 1.0 for k in ("accuracy", "question_accuracy", "image_accuracy",
                                          "group_accuracy", "multiple_choice/group_accuracy"))
    # always "Yes": the yes/no row right on q0/i0 and q1/i1 only; the A/B row unparsed (no A or
    # B word): Acc 2/8, no question, image or group right
    _check(run("always-yes"), {"accuracy": 2 / 8, "unparsed_rate": 4 / 8, "question_accuracy": 0.0,
                               "image_accuracy": 0.0, "group_accuracy": 0.0, "yes_no/accuracy": 2 / 4})
    # blind: Yes to the star question on both images, No to the dog question: image 0 right on
    # both questions (one of four images), no question right on both images
    _check(run("blind"), {"accuracy": 2 / 8, "question_accuracy": 0.0, "image_accuracy": 1 / 4,
                          "group_accuracy": 0.0, "yes_no/image_accuracy": 1 / 2})
    assert len(NATURALBENCH_ROWS) == 2


def test_naturalbench_reads_the_first_of_the_two_words():
    from vlmeval.tasks.naturalbench import first_of

    assert first_of("No, yes it is", "yes", "no").answer == "no"
    assert first_of("I would say B, not A", "A", "B").answer == "B"
    assert first_of("a dog", "A", "B").answer == "A"  # the article reads as A, as the authors'
    assert first_of("maybe", "yes", "no").status == "unparsed"


def test_vsr_by_hand(tmp_path):
    data, images = vsr_file(tmp_path / "data")
    assert _values(_run(tmp_path, "oracle", "vsr", data, images))["accuracy"] == 1.0
    # labels 1 0 1 0 0: always yes right on two of five; blind (no "Is there a") says no to all
    _check(_values(_run(tmp_path, "always-yes", "vsr", data, images)),
           {"accuracy": 2 / 5, "left of/accuracy": 1 / 2, "right of/accuracy": 0.0, "on/accuracy": 1.0})
    _check(_values(_run(tmp_path, "blind", "vsr", data, images)),
           {"accuracy": 3 / 5, "left of/accuracy": 1 / 2, "under/accuracy": 1.0})
    assert len(VSR_ROWS) == 5


def test_tallyqa_and_countbench_by_hand(tmp_path):
    data, images = tallyqa_file(tmp_path / "t")
    assert _values(_run(tmp_path, "oracle", "tallyqa", data, images))["exact_accuracy"] == 1.0
    # blind says "No", which reads as 0: golds 2 1 0 3 (simple: 2, 0; complex: 1, 3)
    _check(_values(_run(tmp_path, "blind", "tallyqa", data, images)),
           {"exact_accuracy": 1 / 4, "off_by_one_accuracy": 2 / 4, "mae": 6 / 4,
            "rmse": math.sqrt(14 / 4), "simple/exact_accuracy": 1 / 2, "complex/exact_accuracy": 0.0,
            "complex/rmse": math.sqrt(10 / 2), "simple/rmse": math.sqrt(4 / 2)})
    # "Yes" is no count: unparsed, wrong, and out of MAE's n
    yes = _run(tmp_path, "always-yes", "tallyqa", data, images)
    assert _values(yes)["unparsed_rate"] == 1.0 and yes["metrics"]["mae"]["n"] == 0
    assert len(TALLYQA_ROWS) == 4
    data, _ = countbench_parquet(tmp_path / "c")
    _check(_values(_run(tmp_path, "oracle", "countbench", data, None)), {"exact_accuracy": 1.0, "mae": 0.0})
    _check(_values(_run(tmp_path, "always-yes", "countbench", data, None)),
           {"exact_accuracy": 0.0, "unparsed_rate": 1.0})
    _check(_values(_run(tmp_path, "blind", "countbench", data, None)),  # golds 2 3 5 2
           {"exact_accuracy": 0.0, "mae": 12 / 4, "rmse": math.sqrt(42 / 4), "majority_accuracy": 2 / 4})


# --- files users bring ------------------------------------------------------------------------

def test_missing_data_and_broken_files_give_one_line_errors(tmp_path, capsys):
    assert main(["run", "--model", "baseline:oracle", "--tasks", "hallusionbench",
                 "--out", str(tmp_path / "r0")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--data hallusionbench=PATH" in err and "tianyi-lab/HallusionBench" in err
    assert len(err.splitlines()) == 1
    data, images = hallusionbench_file(tmp_path / "h")
    rows = json.loads(data.read_text())
    rows[2]["gt_answer"] = "maybe"
    data.write_text(json.dumps(rows))
    assert main(["run", "--model", "baseline:oracle", "--data", f"hallusionbench={data}",
                 "--images", str(images), "--out", str(tmp_path / "r1")]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{data}: record 2: field 'gt_answer' is 'maybe'" in err and len(err.splitlines()) == 1
    amber, images = amber_folder(tmp_path / "a")
    (images / "AMBER_2.jpg").unlink()
    assert main(["run", "--model", "baseline:oracle", "--data", f"amber={amber}",
                 "--images", str(images), "--out", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err.strip()
    assert "record 3 (field 'image'): image 'AMBER_2.jpg' not found" in err, err
    assert len(err.splitlines()) == 1
    generative = amber / "query" / "query_generative.json"
    generative.write_text(json.dumps([{"id": 1, "image": "AMBER_1.jpg", "query": "Describe this image."}]))
    assert main(["run", "--model", "baseline:oracle", "--data", f"amber={generative}",
                 "--images", str(images), "--out", str(tmp_path / "r3")]) == 2
    err = capsys.readouterr().err.strip()
    assert "only generative queries" in err and "en_core_web_lg" in err and len(err.splitlines()) == 1


def test_the_hallucination_bench_suite_runs_each_from_its_files(tmp_path, capsys):
    h, h_images = hallusionbench_file(tmp_path / "h")
    a, a_images = amber_folder(tmp_path / "a")
    m, _ = mme_parquet(tmp_path / "m")
    n, _ = naturalbench_parquet(tmp_path / "n")
    # one --images folder for the two that read image folders: the placeholders side by side
    for src in (h_images, a_images):
        for path in src.rglob("*.*"):
            target = tmp_path / "images" / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    args = ["run", "--model", "baseline:oracle", "--suite", "hallucination-bench",
            "--data", f"hallusionbench={h}", "--data", f"amber={a}",
            "--images", str(tmp_path / "images"), "-q"]
    assert main([*args, "--out", str(tmp_path / "r0")]) == 2  # mme's files are missing
    assert "--data mme=PATH" in capsys.readouterr().err
    assert main([*args, "--data", f"mme={m}", "--data", f"naturalbench={n}",
                 "--out", str(tmp_path / "run")]) == 0
    tasks = json.loads((tmp_path / "run" / "results.json").read_text())["tasks"]
    assert set(tasks) == {"hallusionbench", "amber", "mme", "naturalbench"}
    assert tasks["amber"]["metrics"]["f1"]["value"] == 1.0
    assert tasks["mme"]["metrics"]["perception_score"]["value"] == 400.0
