"""VQAv2 accuracy against the official evaluator's rules: literal predictions and answer lists
with the scores the evaluator gives them."""

import math

import pytest

from vlmeval.metrics.vqa import normalize_prediction, process_punctuation, vqa_accuracy

TEN = 10


@pytest.mark.parametrize("prediction,answers,expected", [
    # unanimous answers: compared as they are
    ("yes", ["yes"] * TEN, 1.0),
    ("Yes.", ["yes"] * TEN, 1.0),
    ("no", ["yes"] * TEN, 0.0),
    # 1, 2, 3, 4 matching humans out of ten -> 0.3, 0.6, 0.9, 1.0
    ("2", ["2"] + ["3"] * 9, 0.3),
    ("2", ["2"] * 2 + ["3"] * 8, 0.6),
    ("2", ["2"] * 3 + ["3"] * 7, 0.9),
    ("2", ["2"] * 4 + ["3"] * 6, 1.0),
    # number words become digits in the prediction (not in the answers)
    ("Two", ["2"] * 3 + ["3"] * 7, 0.9),
    ("none", ["0"] * 4 + ["1"] * 6, 1.0),
    ("two", ["two"] * 4 + ["2"] * 6, 1.0),  # "two" -> "2": the six "2"s match
    # articles dropped, case folded
    ("A red ball", ["red ball"] * 3 + ["ball"] * 7, 0.9),
    # punctuation: between letters, next to other marks, at the ends; digit commas; periods
    ("t-shirt", ["t shirt"] * 9 + ["shirt"], 1.0),
    ("t-shirt", ["t-shirt"] * 9 + ["shirt"], 1.0),  # not unanimous: "t-shirt" -> "t shirt"
    ("t-shirt", ["t-shirt"] * TEN, 0.0),  # unanimous answers are not normalised: the rule
    ("(left)", ["left"] * 3 + ["right"] * 7, 0.9),
    ("1,000", ["1000"] * 4 + ["100"] * 6, 1.0),
    ("3.5", ["3.5"] * 4 + ["3"] * 6, 1.0),
    # contractions restored after the apostrophe-free spelling
    ("dont", ["don't"] * 4 + ["no"] * 6, 1.0),
    ("", ["yes"] * TEN, 0.0),
])
def test_official_accuracy(prediction, answers, expected):
    assert vqa_accuracy(prediction, answers) == pytest.approx(expected)


def test_no_answers_is_nan_not_zero():
    assert math.isnan(vqa_accuracy("yes", []))


@pytest.mark.parametrize("text,expected", [
    ("Yes!", "yes"),
    ("  two dogs.\n", "2 dogs"),
    ("it's red", "it's red"),  # ' is not stripped by the EvalAI evaluator
    ("black/white", "black white"),
    ("the cat, the dog", "cat dog"),
])
def test_prediction_normalisation(text, expected):
    assert normalize_prediction(text) == expected


def test_period_stripping_stops_after_32_like_the_evaluator():
    # re.sub(pattern, "", text, re.UNICODE) passes 32 as the count
    assert process_punctuation("a." * 40).count(".") == 8


@pytest.mark.parametrize("answers,prediction,expected,rule", [
    (["red"] * 10, "Red.", 1.0, "vqav2"),
    (["red"] * 2 + ["blue"] * 8, "red", 0.6, "vqav2"),
    (["red"], "red", 1.0, "exact_match"),
    (["red"], "a red one", 0.0, "exact_match"),
    (["two", "2", "pair"], "2", 1.0, "exact_match"),  # number words normalised on both sides
    (["the cat", "cat"], "Cat", 1.0, "exact_match"),
    ([], "x", float("nan"), "exact_match"),
])
def test_vqa_score_uses_the_formula_only_with_ten_answers(answers, prediction, expected, rule):
    from vlmeval.metrics.vqa import vqa_score

    value, used = vqa_score(prediction, answers)
    assert used == rule
    assert value == pytest.approx(expected, nan_ok=True)


def test_a_manifest_with_one_answer_per_question_scores_the_oracle_one(tmp_path):
    """A vqa manifest with "answers": ["red"] used to score the oracle 0.0 on every row."""
    import json

    from vlmeval.adapters.baselines import OracleAdapter
    from vlmeval.data import scenes
    from vlmeval.runner import RunConfig, run

    scenes.render(scenes.scene("eval", 0)).save(tmp_path / "a.png")
    rows = [{"image": "a.png", "question": f"q{i}?", "answers": ["red", "crimson", "maroon"][: i + 1]}
            for i in range(3)]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = run(RunConfig(model="baseline:oracle", tasks=("vqa",), data={"": tmp_path / "m.jsonl"},
                           out=tmp_path / "r"), OracleAdapter("baseline:oracle"))
    vqa = result.results["tasks"]["vqa"]
    assert vqa["metrics"]["accuracy"]["value"] == 1.0 and vqa["metrics"]["exact_match_rate"]["value"] == 1.0
    assert vqa["accuracy_rules"] == {"exact_match": 3}
    assert "3 question(s) scored by normalised exact match" in vqa["notes"][0]
