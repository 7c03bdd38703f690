"""Every registered model (baselines, the shipped checkpoints, plugins): one output per
request, in order; a request gives the same output and option scores alone as in a batch.
Hugging Face checkpoints get the same check in test_hf_adapter.py (they are built there)."""

from __future__ import annotations

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
