"""Every registered model (baselines, the shipped checkpoints, plugins): one output per
request, in order; a request gives the same output and option scores alone as in a batch.
Hugging Face checkpoints get the same check in test_hf_adapter.py (they are built there)."""

from __future__ import annotations

from dataclasses import replace
from itertools import zip_longest

import numpy as np
import pytest

from vlmeval.adapters import MODELS, resolve_model
from vlmeval.tasks.suites import make_task


def mixed_requests():
    """Yes/no with options, counts, and text with no image, interleaved."""
    parts = [make_task("pope", limit=1).requests()[:4], make_task("counting", limit=1).requests()[:3],
             make_task("text_gen", limit=2).requests()]
    return [r for group in zip_longest(*parts) for r in group if r is not None]


@pytest.mark.parametrize("name", MODELS.names())
def test_one_output_per_request_in_order_and_batch_one_equals_batch_n(name):
    adapter = resolve_model(name)
    requests = mixed_requests()
    together = adapter.generate(requests)
    alone = [adapter.generate([r])[0] for r in requests]
    assert len(together) == len(requests) and all(isinstance(t, str) for t in together)
    assert together == alone
    if "score" in adapter.capabilities:
        scorable = [r for r in requests if r.options]
        batch = adapter.score(scorable)
        assert len(batch) == len(scorable)
        for r, scores in zip(scorable, batch):
            (single,) = adapter.score([r])
            assert len(scores) == len(r.options)
            np.testing.assert_allclose(scores, single, rtol=1e-4, atol=1e-4)
    if name == "baseline:oracle":  # in order: the oracle's outputs are the requests' targets
        assert together == [r.target for r in requests]


@pytest.mark.parametrize("name", MODELS.names())
def test_an_answer_key_covers_everything_the_answer_depends_on(name):
    """A model that offers answer_key has its repeated requests copied by the runner: a request
    that differs only outside the key (task, ids, target, variant, meta) must get the same
    output and scores. The oracle, which answers with the target, must offer no key."""
    adapter = resolve_model(name)
    if getattr(adapter, "answer_key", None) is None:
        pytest.skip(f"{name} offers no answer_key: every request is computed")
    requests = [r for r in mixed_requests() if r.options][:4]
    others = [replace(r, task="other", request_id=f"x/{r.request_id}", sample_id="x", variant="x",
                      target="not the target", meta={"other": True}) for r in requests]
    assert [adapter.answer_key(r) for r in requests] == [adapter.answer_key(r) for r in others]
    assert adapter.generate(others) == adapter.generate(requests)
    np.testing.assert_allclose(adapter.score(others), adapter.score(requests), rtol=1e-5, atol=1e-5)


def test_the_oracle_offers_no_answer_key():
    assert getattr(resolve_model("baseline:oracle"), "answer_key", None) is None
