"""Caption metrics: pycocoevalcap's numbers, tokenisation, the bootstrap's BLEU formula."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge

from vlmeval.adapters.baselines import AlwaysYesAdapter, OracleAdapter, _Baseline
from vlmeval.metrics import caption
from vlmeval.runner import RunConfig, run

REFS = {
    "1": ["A man is riding a horse on the beach.", "A person rides a brown horse near the sea.",
          "Someone on horseback by the ocean."],
    "2": ["Two dogs play with a red ball in the grass.", "Dogs chasing a ball.",
          "Two puppies playing in a field."],
    "3": ["A plate of food with broccoli and rice.", "Rice, broccoli and chicken on a plate."],
    "4": ["A red stop sign on a street corner.", "A stop sign next to the road."],
}
HYPS = {"1": "A man riding a horse on a beach.", "2": "A dog with a ball.",
        "3": "A plate with rice and broccoli.", "4": "A sign."}

TOKEN_TABLE = [  # raw caption, PTB-tokenised and punctuation-free (the Java tokenizer's output)
    ("A man is riding a horse.", "a man is riding a horse"),
    ("Two dogs, one ball!", "two dogs one ball"),
    ("It's a dog's life; isn't it?", "it 's a dog 's life is n't it"),
    ("A well-known (old) building", "a well-known -lrb- old -rrb- building"),
    ('He said "hello" -- twice...', "he said hello twice"),
    ("3.5 apples at 1,000 feet", "3.5 apples at 1,000 feet"),
    ("", ""),
]


@pytest.mark.parametrize("raw,expected", TOKEN_TABLE)
def test_python_tokenize_table(raw, expected):
    assert caption.python_tokenize(raw) == expected


@pytest.mark.skipif(shutil.which("java") is None, reason="Java not installed")
def test_python_tokenize_agrees_with_java_ptb():
    table = {str(i): [raw] for i, (raw, _) in enumerate(TOKEN_TABLE) if raw}
    java = caption._java_tokenize(table)
    assert {k: v[0] for k, v in java.items()} == {k: caption.python_tokenize(v[0])
                                                  for k, v in table.items()}


def test_scores_equal_pycocoevalcap_scorers_on_the_same_tokens(monkeypatch):
    monkeypatch.setenv(caption.TOKENIZER_ENV, "python")
    stats, official = caption.caption_scores(REFS, HYPS)
    assert official["tokenizer"].startswith("python")
    gts = {k: [caption.python_tokenize(c) for c in v] for k, v in REFS.items()}
    res = {k: [caption.python_tokenize(HYPS[k])] for k in REFS}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    rouge, rouge_per = Rouge().compute_score(gts, res)
    cider, cider_per = Cider().compute_score(gts, res)
    for n in range(4):
        assert official[f"bleu_{n + 1}"] == pytest.approx(bleu[n], abs=1e-12)
        # the bootstrap's vectorised formula gives the same corpus BLEU from per-image sums
        assert caption.bleu_from_sums(stats[:, :caption.BLEU_WIDTH].sum(0), n + 1) == \
            pytest.approx(bleu[n], rel=1e-9)
    assert official["rouge_l"] == pytest.approx(rouge)
    assert official["cider_d"] == pytest.approx(cider)
    np.testing.assert_allclose(stats[:, caption.BLEU_WIDTH], rouge_per)
    np.testing.assert_allclose(stats[:, caption.BLEU_WIDTH + 1], cider_per)
    assert 0 < official["bleu_4"] < official["bleu_1"] < 1


def test_java_is_used_when_present_and_named(monkeypatch):
    monkeypatch.delenv(caption.TOKENIZER_ENV, raising=False)
    _, official = caption.caption_scores(REFS, HYPS)
    expected = "ptb-java" if shutil.which("java") else "python: java not found"
    assert official["tokenizer"] == expected


@pytest.mark.skipif(shutil.which("java") is None, reason="Java not installed")
def test_meteor_is_pycocoevalcaps_on_the_same_tokens_and_named(monkeypatch):
    from pycocoevalcap.meteor.meteor import Meteor

    monkeypatch.delenv(caption.TOKENIZER_ENV, raising=False)
    stats, official = caption.caption_scores(REFS, HYPS)
    tokens, _ = caption.tokenize({**{f"r{k}": v for k, v in REFS.items()},
                                  **{f"h{k}": [HYPS[k]] for k in REFS}})
    scorer = Meteor()
    try:
        corpus, per_image = scorer.compute_score({k: tokens[f"r{k}"] for k in REFS},
                                                 {k: tokens[f"h{k}"] for k in REFS})
    finally:
        caption.close_meteor(scorer)
    assert official["meteor"] == pytest.approx(corpus, abs=1e-12) and 0 < corpus < 1
    np.testing.assert_allclose(stats[:, caption.BLEU_WIDTH + 2], per_image)
    assert official["meteor_scorer"].startswith("meteor-1.5 (pycocoevalcap)")


def test_without_java_meteor_is_left_out_and_the_results_say_why(monkeypatch, tmp_path):
    monkeypatch.setenv(caption.TOKENIZER_ENV, "python")
    stats, official = caption.caption_scores(REFS, HYPS)
    assert "meteor" not in official and np.isnan(stats[:, caption.BLEU_WIDTH + 2]).all()
    assert official["meteor_scorer"].startswith("not computed")
    result = _captioning(OracleAdapter("oracle"), tmp_path, limit=5)
    assert "meteor" not in result["metrics"]
    assert any(n.startswith("METEOR: not computed") for n in result["notes"])


class Silent(_Baseline):
    def answer(self, request):
        return ""


def _captioning(adapter, tmp_path, limit=30):
    result = run(RunConfig(model=adapter.name, tasks=("captioning",), limit=limit,
                           out=tmp_path / adapter.name), adapter)
    return result.results["tasks"]["captioning"]


def test_captioning_oracle_scores_one_and_empty_captions_score_zero(tmp_path):
    oracle = _captioning(OracleAdapter("oracle"), tmp_path)
    for name in ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l"):
        assert oracle["metrics"][name]["value"] == pytest.approx(1.0)
        assert oracle["metrics"][name]["n"] == 30
    assert oracle["metrics"]["cider_d"]["value"] > 1.0  # not bounded by 1
    assert oracle["tokenizer"]
    for adapter in (AlwaysYesAdapter("always-yes"), Silent("silent")):
        metrics = _captioning(adapter, tmp_path)["metrics"]
        assert metrics["cider_d"]["value"] == pytest.approx(0.0, abs=1e-9)
        assert metrics["bleu_1"]["value"] == pytest.approx(0.0, abs=1e-6)


def test_no_images_gives_nan_not_zero():
    from vlmeval.tasks.captioning import CaptioningTask

    scored = CaptioningTask().score([], "official", seed=0)
    assert all(math.isnan(m.value) and m.n == 0 for m in scored.metrics.values())
