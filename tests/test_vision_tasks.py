"""counting and spatial: parse tables, planted behaviours, the metrics they imply."""

from __future__ import annotations

import pytest

from vlmeval.adapters.baselines import AlwaysYesAdapter, OracleAdapter, _Baseline
from vlmeval.data import prompts, scenes
from vlmeval.parsing import parse_count
from vlmeval.runner import RunConfig, run
from vlmeval.tasks.vqa import VQATask

COUNT_TABLE = [  # raw, official, strict
    ("2", "2", "2"), ("Two.", "2", "2"), (" 3 ", "3", "3"), ("There are two stars.", "2", None),
    ("no stars", "0", None), ("none", "0", None), ("zero", "0", "0"), ("", None, None),
    ("I cannot tell", None, None), ("10", "10", "10"), ("a few", None, None),
]


@pytest.mark.parametrize("raw,official,strict", COUNT_TABLE)
def test_count_parse_table(raw, official, strict):
    assert parse_count(raw, "official").answer == official
    assert parse_count(raw, "strict").answer == strict
    if official is None:
        assert parse_count(raw, "official").status == "unparsed"  # never a silent 0


class OffByOne(_Baseline):
    """Answers gold + 1 on counting, the wrong side of every spatial question."""

    def answer(self, request):
        if request.task == "counting":
            return str(int(request.target) + 1)
        return "no" if request.target == "yes" else "yes"


class Stubborn(_Baseline):
    def answer(self, request):
        return "yes" if request.task == "spatial" else "I do not know"


def _metrics(adapter, tmp_path, limit=60):
    result = run(RunConfig(model=adapter.name, tasks=("counting", "spatial"), limit=limit,
                           out=tmp_path / adapter.name), adapter)
    return {t: r["metrics"] for t, r in result.results["tasks"].items()}


def test_oracle_scores_one_and_planted_errors_score_what_they_imply(tmp_path):
    oracle = _metrics(OracleAdapter("oracle"), tmp_path)
    assert oracle["counting"]["exact_accuracy"]["value"] == 1.0
    assert oracle["counting"]["mae"]["value"] == 0.0
    assert oracle["spatial"]["accuracy"]["value"] == 1.0
    assert oracle["spatial"]["consistency"]["value"] == 1.0
    assert all(oracle["spatial"][f"{r}/accuracy"]["value"] == 1.0 for r in prompts.RELATIONS)

    off = _metrics(OffByOne("off"), tmp_path)
    assert off["counting"]["exact_accuracy"]["value"] == 0.0
    assert off["counting"]["off_by_one_accuracy"]["value"] == 1.0
    assert off["counting"]["mae"]["value"] == off["counting"]["rmse"]["value"] == 1.0
    assert off["spatial"]["accuracy"]["value"] == 0.0
    assert off["spatial"]["consistency"]["value"] == 1.0  # consistently wrong is consistent
    assert off["spatial"]["both_correct"]["value"] == 0.0

    stubborn = _metrics(Stubborn("stubborn"), tmp_path)
    assert stubborn["spatial"]["accuracy"]["value"] == 0.5  # gold answers are half yes
    assert stubborn["spatial"]["consistency"]["value"] == 0.0
    unparsed = stubborn["counting"]
    assert unparsed["unparsed_rate"]["value"] == 1.0 and unparsed["exact_accuracy"]["value"] == 0.0
    assert unparsed["mae"]["n"] == 0 and unparsed["mae"]["value"] is None  # NaN, not 0


def test_counting_plan_asks_present_and_absent_categories():
    from vlmeval.tasks.counting import CountingTask

    requests = CountingTask(limit=50).requests()
    by_image: dict = {}
    for r in requests:
        by_image.setdefault(r.sample_id, []).append(r)
    for sample_id, rs in by_image.items():
        scene = scenes.scene("eval", int(sample_id.rsplit("-", 1)[1]))
        golds = [r.meta["count"] for r in rs]
        assert golds == [scene.count(r.meta["category"]) for r in rs]
        assert golds.count(0) == 1 and len(rs) == len(scene.categories) + 1
    majority = max(range(7), key=lambda k: sum(r.meta["count"] == k for r in requests))
    assert majority == 1  # what majority_accuracy is measured against


def test_spatial_pairs_are_unambiguous_and_complementary():
    from vlmeval.tasks.spatial import SpatialTask

    requests = SpatialTask(limit=80).requests()
    assert requests and len(requests) % 2 == 0
    for first, second in zip(requests[::2], requests[1::2]):
        assert {first.target, second.target} == {"yes", "no"}
        assert first.meta["relation"] == second.meta["relation"]
        scene = scenes.scene("eval", int(first.sample_id.rsplit("-", 1)[1]))
        assert (first.meta["subject"], first.meta["object"]) == (second.meta["object"],
                                                                 second.meta["subject"])
        a, b = (next(o for o in scene.objects if o.category == first.meta[k])
                for k in ("subject", "object"))
        assert scene.count(a.category) == scene.count(b.category) == 1
        holds = prompts.relation_holds(a, first.meta["relation"], b)
        assert holds is not None and first.target == ("yes" if holds else "no")


class Synonyms(_Baseline):
    """Answers VQA with what a minority of annotators said: "big"/"little", number words."""

    def answer(self, request):
        answers = request.meta["answers"]
        return answers[-1]  # the last of the ten: the synonym or number word where there is one


def test_vqa_oracle_scores_one_and_synonyms_score_what_the_official_metric_gives(tmp_path):
    def metrics(adapter):
        result = run(RunConfig(model=adapter.name, tasks=("vqa",), limit=40,
                               out=tmp_path / adapter.name), adapter)
        return result.results["tasks"]["vqa"]["metrics"]

    oracle = metrics(OracleAdapter("oracle"))
    assert oracle["accuracy"]["value"] == 1.0 and oracle["exact_match_rate"]["value"] == 1.0
    assert all(oracle[f"answer_type/{t}/accuracy"]["value"] == 1.0
               for t in ("yes/no", "number", "other"))
    syn = metrics(Synonyms("synonyms"))
    # three of ten annotators said "big"/"little": min(1, 3/3) on 7 subsets, 2/3 on 3 -> 0.9
    assert syn["question_type/what size is the/accuracy"]["value"] == pytest.approx(0.9)
    # "three" is normalised to "3", which seven annotators wrote
    assert syn["answer_type/number/accuracy"]["value"] == 1.0
    assert syn["question_type/what colour is the/accuracy"]["value"] == 1.0

    always_yes = metrics(AlwaysYesAdapter("yes"))
    plan = [r for r in VQATask(limit=40).requests() if r.meta["answer_type"] == "yes/no"]
    share_yes = sum(r.target == "yes" for r in plan) / len(plan)
    assert always_yes["answer_type/yes/no/accuracy"]["value"] == pytest.approx(share_yes)
    assert 0.2 < share_yes < 0.8  # both answers occur
    assert always_yes["answer_type/other/accuracy"]["value"] == 0.0
