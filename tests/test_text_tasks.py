"""Text tasks: generation exact match and multiple choice by log-likelihood."""

from __future__ import annotations

import json

import pytest
import torch

from vlmeval.adapters.baselines import AlwaysYesAdapter, OracleAdapter, _Baseline
from vlmeval.adapters.native import NativeAdapter
from vlmeval.data import text
from vlmeval.data.sources import load_samples
from vlmeval.errors import DataError
from vlmeval.runner import RunConfig, run
from vlmeval.tasks.text import TextMCTask, choose, first_word
from vlmeval.vlm import template
from vlmeval.vlm.checkpoint import save_checkpoint
from vlmeval.vlm.loop import answer_loss, pad_batch
from vlmeval.vlm.train import build_model, recipe_for

WORD_TABLE = [  # raw, official, strict
    ("7", "7", "7"), ("Seven.", "seven", "seven"), (" right ", "right", "right"),
    ("It is 7", "it", None), ("", None, None), ("...", None, None), ("7 or 8", "7", None),
]


@pytest.mark.parametrize("raw,official,strict", WORD_TABLE)
def test_first_word_table(raw, official, strict):
    assert first_word(raw, "official").answer == official
    assert first_word(raw, "strict").answer == strict


def test_choose_sums_and_normalises_by_length_ties_to_first():
    assert choose(["a", "bbbb"], [-2.0, -3.0]) == (0, 1)  # -3/4 > -2/1 per character
    assert choose(["x", "y"], [-1.0, -1.0]) == (0, 0)


def _text(adapter, tmp_path):
    result = run(RunConfig(model=adapter.name, suite="text", out=tmp_path / adapter.name), adapter)
    return {t: r["metrics"] for t, r in result.results["tasks"].items()}


def test_oracle_scores_one_and_always_yes_scores_what_it_implies(tmp_path):
    oracle = _text(OracleAdapter("oracle"), tmp_path)
    assert oracle["text_gen"]["accuracy"]["value"] == 1.0
    assert oracle["text_mc"]["accuracy"]["value"] == 1.0
    assert oracle["text_gen"]["accuracy"]["n"] == len(list(text.items())) == 139
    yes = _text(AlwaysYesAdapter("always-yes"), tmp_path)
    # "yes" is right once: the opposite of "no"
    assert yes["text_gen"]["accuracy"]["value"] == pytest.approx(1 / 139, abs=1e-6)
    assert yes["text_gen"]["opposite/accuracy"]["value"] == pytest.approx(1 / 10, abs=1e-6)
    # every option scores alike, so ties pick the first choice: right where the gold is first
    first = sum(r.meta["answer_index"] == 0 for r in TextMCTask().requests()) / 139
    assert yes["text_mc"]["accuracy"]["value"] == pytest.approx(first, abs=1e-6)
    assert yes["text_mc"]["chance"]["value"] == 0.25


PLANTED = {"What is the secret word?": "moon", "Which shape is best?": "heart"}


@pytest.fixture(scope="module")
def planted_checkpoint(tmp_path_factory):
    """A tiny LM taught only the planted answers (60 steps on two questions)."""
    torch.manual_seed(0)
    recipe = recipe_for("mlp2x_gelu", vision_dim=16, vision_depth=1, lm_dim=32, lm_depth=2)
    model, tok = build_model(recipe)
    rows = [(template.prompt_ids(tok, q, 0), template.answer_ids(tok, a)) for q, a in PLANTED.items()]
    opt = torch.optim.AdamW(model.lm.parameters(), lr=3e-3)
    ids, labels = pad_batch([p for p, _ in rows], [a for _, a in rows])
    for _ in range(60):
        h, _ = model.lm(model.lm.embed(ids), torch.arange(ids.shape[1]).expand_as(ids))
        loss = answer_loss(model.lm.logits(h), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = tmp_path_factory.mktemp("planted")
    save_checkpoint(out, model.eval(), tok, {"recipe": "planted in a test"})
    return out


def _mc_file(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_loglikelihood_picks_the_planted_choice(planted_checkpoint, tmp_path):
    rows = [{"question": "What is the secret word?", "choices": ["star", "moon", "ring", "cross"],
             "answer": 1},
            {"question": "Which shape is best?", "choices": ["circle", "arrow", "heart"],
             "answer": "C"}]
    data = _mc_file(tmp_path / "mc.jsonl", rows)
    adapter = NativeAdapter(str(planted_checkpoint), planted_checkpoint)
    result = run(RunConfig(model="planted", tasks=("text_mc",), data={"": data},
                           out=tmp_path / "run"), adapter)
    scored = result.results["tasks"]["text_mc"]
    assert scored["metrics"]["accuracy"]["value"] == 1.0 and scored["mode"] == "log-likelihood"
    # the same model is wrong when the file plants another answer
    wrong = _mc_file(tmp_path / "wrong.jsonl", [{**rows[0], "answer": "star"}])
    result = run(RunConfig(model="planted", tasks=("text_mc",), data={"": wrong},
                           out=tmp_path / "run2"), adapter)
    assert result.results["tasks"]["text_mc"]["metrics"]["accuracy"]["value"] == 0.0


class Talker(_Baseline):
    """Cannot score: answers with a letter, a choice's text, or nonsense."""

    capabilities = frozenset({"generate"})

    def answer(self, request):
        return {"q1": "B", "q2": "Heart.", "q3": "no idea"}[request.request_id.split("-")[-1]]


def test_generated_answers_are_matched_to_choices_when_the_adapter_cannot_score(tmp_path):
    rows = [{"id": f"q{i}", "question": "?", "choices": ["star", "moon", "heart"], "answer": a}
            for i, a in ((1, 1), (2, 2), (3, 0))]
    data = _mc_file(tmp_path / "mc.jsonl", rows)
    result = run(RunConfig(model="talker", tasks=("text_mc",), data={"": data},
                           out=tmp_path / "run"), Talker("talker"))
    scored = result.results["tasks"]["text_mc"]
    assert scored["mode"] == "generated text"
    assert scored["metrics"]["accuracy"]["value"] == pytest.approx(2 / 3)  # q3 unparsed, wrong
    strict = scored["by_policy"]["strict"]["metrics"]["accuracy"]["value"]
    assert strict == pytest.approx(1 / 3)  # letters count only under the official policy


@pytest.mark.parametrize("row,gold", [
    ({"question": "q", "choices": ["a", "b", "c"], "answer": 2}, "c"),
    ({"question": "q", "choices": ["a", "b", "c"], "answer": "B"}, "b"),
    ({"question": "q", "choices": ["a", "b", "c"], "answer": "a"}, "a"),
    ({"question": "q", "choices": {"text": ["x", "y"], "label": ["1", "2"]}, "answerKey": "2"}, "y"),
])
def test_mc_rows_accept_index_letter_text_and_arc_layout(tmp_path, row, gold):
    samples = load_samples(_mc_file(tmp_path / "one.jsonl", [row]), "text_mc")
    assert samples[0].fields["answers"] == (gold,)


def test_mc_row_with_an_unknown_answer_names_the_line(tmp_path):
    path = _mc_file(tmp_path / "bad.jsonl", [{"question": "q", "choices": ["a", "b"], "answer": 5}])
    with pytest.raises(DataError, match=r"bad.jsonl:1: field 'answer' is 5"):
        load_samples(path, "text_mc")
