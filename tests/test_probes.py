"""CHAIR, image swap and blind probes: mapping tables and planted behaviours."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlmeval.adapters.baselines import AlwaysYesAdapter, BlindAdapter, OracleAdapter, _Baseline
from vlmeval.data import scenes
from vlmeval.errors import ConfigError, DataError
from vlmeval.probes.chair import SCENES_TABLE, SynonymTable, chair_counts
from vlmeval.probes.pope import cooccurrence_order
from vlmeval.data import scenes_samples
from vlmeval.registry import UnknownName
from vlmeval.runner import RunConfig, run

COCO_LIKE = SynonymTable(["dog, puppy, pup", "hot dog, hotdog", "person, man, woman, people",
                          "bus"], "test table")


@pytest.mark.parametrize("caption,mentions", [
    ("A man eats a hot dog next to a dog.", ["person", "hot dog", "dog"]),
    ("Two puppies and three buses.", ["dog", "bus"]),
    ("Hotdogs, no dogs here", ["hot dog", "dog"]),
    ("A busy street", []),
])
def test_multi_word_names_and_plurals(caption, mentions):
    assert COCO_LIKE.mentions(caption) == mentions


def test_scenes_table_maps_synonyms_and_plurals():
    assert SCENES_TABLE.mentions("two crosses, a crescent moon and a plus sign; rings") == [
        "cross", "moon", "plus", "ring"]


def test_synonyms_file_format_and_conflicts(tmp_path):
    path = tmp_path / "syn.txt"
    path.write_text("cat, kitty\n\ndog, puppy\n")
    assert SynonymTable.from_file(path).mentions("A kitty and a puppy") == ["cat", "dog"]
    path.write_text("cat, pet\ndog, pet\n")
    with pytest.raises(DataError, match=r"syn.txt:2: 'pet' is listed under both 'cat' and 'dog'"):
        SynonymTable.from_file(path)
    with pytest.raises(DataError, match="cannot read"):
        SynonymTable.from_file(tmp_path / "missing.txt")


def test_chair_counts_one_caption():
    # mentions: star, moon, star, heart (every mention counts, as chair.py); truth: star, ring
    row = chair_counts("A star, a moon, another star and a heart.", ["star", "ring"], SCENES_TABLE)
    captions, hallucinating, mentions, hallucinated, gt, gt_hit, words = row
    assert (captions, hallucinating, mentions, hallucinated, gt, gt_hit) == (1, 1, 4, 2, 2, 1)
    assert words == 9


OFFICIAL = SynonymTable.from_file(Path(__file__).parent / "fixtures" / "chair" / "synonyms.txt")


@pytest.mark.parametrize("caption,mentions", [
    # irregular plurals through inflect; every mention counted
    ("Two men and a woman ride motorcycles past a fire hydrant.",
     ["person", "person", "motorcycle", "fire hydrant"]),
    ("Mice and knives near the children.", ["mouse", "knife", "person"]),
    ("Three dogs, a dog and two puppies.", ["dog", "dog", "dog"]),
    # words the list holds as written stay as written ("bus" is no plural of "bu")
    ("People on buses, skis and scissors.", ["person", "bus", "skis", "scissors"]),
    # the authors' qualifier rules: baby/adult animals, passenger vehicles, bow tie, toilet seat
    ("A baby elephant walks beside an adult elephant.", ["elephant", "elephant"]),
    ("Passengers board a passenger jet.", ["person", "airplane"]),
    ("A man in a bow tie.", ["person", "tie"]),
    ("A toilet seat is up next to the sink.", ["toilet", "sink"]),
    ("The seat of the toilet.", ["toilet"]),
    ("A seat by the window.", ["chair"]),
    # two-word names join; names of three words never match (as in chair.py)
    ("Teddy bears on a stove top oven.", ["teddy bear", "oven", "oven"]),
])
def test_official_synonyms_and_the_authors_rules(caption, mentions):
    assert OFFICIAL.mentions(caption) == mentions


# docs/chair.md's worked example: (instance categories, reference caption, generated caption)
CHAIR_EXAMPLE = [
    (["person", "dog", "frisbee"], "A man throws a frisbee to his dog on the grass.",
     "Two men and a dog play with a frisbee near a bench."),
    (["dining table", "pizza", "cup", "knife"], "A pizza on a table with knives and forks.",
     "A pizza and two knives on a table next to a wine glass and a bottle."),
    (["toilet", "sink"], "A small bathroom with a toilet and a sink.",
     "A toilet seat is up beside a sink in a small bathroom."),
    (["elephant"], "An adult elephant with its baby.",
     "A baby elephant walks with two adult elephants near passengers."),
]


def test_chair_on_the_worked_example_matches_chair_py_by_hand():
    """Mentions 4, 5, 2, 3; hallucinated bench; wine glass and bottle; none; none (the reference
    caption's "baby" is a person, so "passengers" is no hallucination, as in chair.py): CHAIR_i
    3/14, CHAIR_s 2/4. The earlier rule (chair v1: each category once per caption, plurals by
    suffix, longest match) gave 4/13 and 3/4."""
    rows = [chair_counts(generated, [*objects, *OFFICIAL.mentions(reference)], OFFICIAL)
            for objects, reference, generated in CHAIR_EXAMPLE]
    total = sum(rows)
    captions, hallucinating, mentions, hallucinated = total[:4]
    assert [r[2] for r in rows] == [4, 5, 2, 3] and [r[3] for r in rows] == [1, 2, 0, 0]
    assert hallucinated / mentions == 3 / 14 and hallucinating / captions == 2 / 4


class Hallucinator(_Baseline):
    """The gold caption plus one absent object that co-occurs most with the present ones."""

    def __init__(self, name):
        super().__init__(name)
        self.co = cooccurrence_order(scenes_samples("eval"))

    def answer(self, request):
        present = request.meta["objects"]
        absent = next(c for c in self.co[present[0]] + list(scenes.CATEGORIES) if c not in present)
        return f"{request.target} a {absent} in the center."


def _probe(adapter, tmp_path, tasks, limit=20):
    result = run(RunConfig(model=adapter.name, tasks=tasks, limit=limit,
                           out=tmp_path / adapter.name.replace(":", "-")), adapter)
    return result.results["tasks"]


def test_chair_oracle_is_clean_and_a_planted_hallucinator_always_hallucinates(tmp_path):
    oracle = _probe(OracleAdapter("oracle"), tmp_path, ("chair",))["chair"]["metrics"]
    assert oracle["chair_i"]["value"] == 0.0 and oracle["chair_s"]["value"] == 0.0
    assert oracle["recall"]["value"] == 1.0
    planted = _probe(Hallucinator("hallucinator"), tmp_path, ("chair",))["chair"]
    assert planted["metrics"]["chair_s"]["value"] == 1.0
    assert planted["metrics"]["recall"]["value"] == 1.0
    assert 0 < planted["metrics"]["chair_i"]["value"] < 1
    assert sum(o["captions"] for o in planted["most_hallucinated"]) == 20


def test_swap_and_blind_planted_behaviours(tmp_path):
    oracle = _probe(OracleAdapter("oracle"), tmp_path, ("image_swap", "blind"))
    assert oracle["image_swap"]["metrics"]["flip_rate"]["value"] == 1.0
    assert oracle["image_swap"]["metrics"]["stability"]["value"] == 1.0
    blind = _probe(BlindAdapter("blind"), tmp_path, ("image_swap", "blind"))
    assert blind["image_swap"]["metrics"]["flip_rate"]["value"] == 0.0
    for variant in ("no_image", "blank", "noise"):
        gain = blind["blind"]["metrics"][f"{variant}/multimodal_gain"]
        assert gain["value"] == 0.0 and gain["ci_low"] <= 0.0 <= gain["ci_high"]
        assert blind["blind"]["metrics"][f"{variant}/prior_agreement"]["value"] == 1.0


class LooksOnlyWithAnImage(_Baseline):
    """The oracle when the request has a real image; "no" for no image, blank or noise."""

    def answer(self, request):
        if request.image is None or request.image.source == "synthetic":
            return "no"
        return request.target


def test_blind_probe_measures_the_gain_from_the_image(tmp_path):
    scored = _probe(LooksOnlyWithAnImage("looks"), tmp_path, ("blind",))["blind"]["metrics"]
    assert scored["original/accuracy"]["value"] == 1.0
    # every "no" is right on negatives and wrong on positives; POPE is half positives, but
    # the probe keeps each (question, image) once, so compute the share from the accuracy
    no_acc = scored["no_image/accuracy"]["value"]
    assert 0.5 < no_acc < 1.0
    assert scored["no_image/multimodal_gain"]["value"] == pytest.approx(1.0 - no_acc, abs=1e-6)
    assert scored["no_image/multimodal_gain"]["ci_low"] > 0


def test_image_swap_is_a_transform_over_other_tasks(tmp_path):
    tasks = _probe(OracleAdapter("oracle"), tmp_path, ("image_swap:counting", "blind:counting"))
    swap = tasks["image_swap:counting"]
    assert swap["base"] == "counting" and swap["metrics"]["flip_rate"]["value"] == 1.0
    yes = _probe(AlwaysYesAdapter("always-yes"), tmp_path, ("image_swap:counting",))
    assert yes["image_swap:counting"]["metrics"]["flip_rate"]["value"] == 0.0  # never a number


def test_variant_probe_base_errors():
    from vlmeval.tasks.suites import make_task

    with pytest.raises(UnknownName, match="did you mean 'counting'"):
        make_task("image_swap:countin")
    with pytest.raises(ConfigError, match="itself a variant probe"):
        make_task("blind:image_swap")
    with pytest.raises(ConfigError, match="only variant probes"):
        make_task("pope:counting")


class Calibrated(_Baseline):
    """Scores P(yes) = 0.8 on positives and 0.3 on negatives; generates the gold answer."""

    def answer(self, request):
        return request.target

    def score(self, requests):
        import math

        out = []
        for r in requests:
            p = 0.8 if r.meta["label"] == "yes" else 0.3
            out.append([math.log(p), math.log(1 - p)])
        return out


def test_pope_false_positive_breakdowns_and_score_mode(tmp_path):
    yes = _probe(AlwaysYesAdapter("always-yes"), tmp_path, ("pope",), limit=40)["pope"]
    fp = {k: m for k, m in yes["metrics"].items() if k.startswith("fp/")}
    assert any(k.startswith("fp/by_object/") for k in fp)
    assert {k.split("/")[2] for k in fp if "by_cooccurrence" in k} == {"low", "mid", "high"}
    assert all(m["value"] == 1.0 for m in fp.values())  # always yes: every negative is a FP
    assert yes["most_hallucinated"][0]["rate"] == 1.0
    planted = _probe(Calibrated("calibrated"), tmp_path, ("pope",), limit=40)["pope"]
    for setting in ("random", "popular", "adversarial"):
        assert planted["metrics"][f"{setting}/roc_auc"]["value"] == 1.0
        assert planted["metrics"][f"{setting}/average_precision"]["value"] == 1.0
        # half the questions in the 0.8 bin (all yes), half in the 0.3 bin (none yes)
        assert planted["metrics"][f"{setting}/ece"]["value"] == pytest.approx(0.25, abs=1e-6)
        curves = planted["score_mode"][setting]
        assert curves["roc"]["tpr"][-1] == 1.0 and len(curves["calibration"]["observed"]) == 2
    blind_text = _probe(_NoScore("noscore"), tmp_path, ("pope",), limit=10)["pope"]
    assert blind_text["score_mode"] is None and "random/roc_auc" not in blind_text["metrics"]


class _NoScore(_Baseline):
    capabilities = frozenset({"generate"})

    def answer(self, request):
        return "no"


def test_synonyms_file_from_the_command_line(tmp_path, capsys):
    import json

    from vlmeval.cli import main

    path = tmp_path / "syn.txt"
    path.write_text("star, twinkle\nmoon\n")
    assert main(["run", "--model", "baseline:oracle", "--tasks", "chair", "--limit", "5",
                 "--synonyms", str(path), "--out", str(tmp_path / "run")]) == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())["tasks"]["chair"]
    assert results["synonyms"] == str(path)
    assert main(["run", "--model", "baseline:oracle", "--tasks", "pope", "--limit", "5",
                 "--synonyms", str(path), "--out", str(tmp_path / "run2")]) == 2
    assert "--synonyms applies to none" in capsys.readouterr().err


def test_weighted_curves_equal_sklearn_on_unit_weights():
    import numpy as np
    from sklearn.metrics import average_precision_score, roc_auc_score

    from vlmeval.probes.false_positive import weighted_curves

    rng = np.random.default_rng(0)
    labels = (rng.random(300) < 0.4).astype(float)
    probs = np.round(np.clip(0.3 * labels + rng.random(300) * 0.7, 0, 1), 2)  # with ties
    out = weighted_curves(labels, probs, np.ones((1, 300)))
    assert out["roc_auc"][0] == pytest.approx(roc_auc_score(labels, probs))
    assert out["average_precision"][0] == pytest.approx(average_precision_score(labels, probs))
    # integer weights are the same as repeating items
    w = rng.integers(0, 3, 300)
    rep = np.repeat(np.arange(300), w)
    out = weighted_curves(labels, probs, w[None, :].astype(float))
    assert out["roc_auc"][0] == pytest.approx(roc_auc_score(labels[rep], probs[rep]))
    assert out["average_precision"][0] == pytest.approx(average_precision_score(labels[rep], probs[rep]))


def test_weighted_curves_over_units_equal_the_same_weights_item_by_item():
    """Score mode's resamples weigh units (images): the curves from per-unit sums equal those
    from every item given its unit's weight (AUC and AP exactly: integer counts; ECE to float
    rounding), with many tied and many distinct scores."""
    import numpy as np

    from vlmeval.probes.false_positive import weighted_curves

    rng = np.random.default_rng(3)
    for probs in (np.round(rng.random(400), 1), rng.random(400)):
        labels = (rng.random(400) < 0.5).astype(float)
        unit = rng.integers(0, 37, 400)
        weights = rng.multinomial(37, np.full(37, 1 / 37), size=25).astype(float)
        grouped = weighted_curves(labels, probs, weights, unit)
        itemwise = weighted_curves(labels, probs, weights[:, unit])
        assert np.array_equal(grouped["roc_auc"], itemwise["roc_auc"], equal_nan=True)
        assert np.array_equal(grouped["average_precision"], itemwise["average_precision"], equal_nan=True)
        assert np.allclose(grouped["ece"], itemwise["ece"], rtol=1e-12, atol=0)
        assert np.isfinite(grouped["roc_auc"]).all() and len(set(grouped["roc_auc"])) > 1
