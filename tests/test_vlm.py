"""The VLM on tiny configs: every registered connector is checked without writing a new test."""

import pytest
import torch
import torch.nn.functional as F

from vlmeval.errors import ConfigError
from vlmeval.vlm.config import ConnectorConfig, LMConfig, VisionConfig, VLMConfig
from vlmeval.vlm.connectors import CONNECTORS
from vlmeval.vlm.model import VLM

VOCAB, IMG = 40, 1


def tiny(name: str, **connector) -> VLM:
    torch.manual_seed(0)
    cfg = VLMConfig(
        lm=LMConfig(vocab_size=VOCAB, dim=32, depth=2, heads=2, max_len=64),
        vision=VisionConfig(image_size=16, patch_size=4, dim=16, depth=1, heads=2),
        connector=ConnectorConfig(name=name, queries=5, every=1, **connector),
        image_token_id=IMG)
    return VLM(cfg).eval()


def prompt(model: VLM, text: list[int]) -> list[int]:
    return [IMG] * model.image_tokens + text


def images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 16, 16, generator=torch.Generator().manual_seed(seed))


def open_gates(model: VLM) -> VLM:
    """Give cross_attn gates a non-zero value, as training would (other connectors: no-op)."""
    if model.connector.kind == "cross_attn":
        with torch.no_grad():
            for layer in model.connector.layers:
                layer.attn_gate.fill_(0.5)
    return model


EXPECTED_TOKENS = {"linear": 16, "mlp2x_gelu": 16, "resampler": 5, "cross_attn": 0}


@pytest.mark.parametrize("name", CONNECTORS.names())
def test_every_connector_shapes_tokens_and_finite(name):
    model = tiny(name)
    assert model.image_tokens == EXPECTED_TOKENS[name]
    ids = torch.tensor([prompt(model, [5, 6, 7]), prompt(model, [8, 9, 10])])
    feats = model.image_features(images(2))
    logits, cache = model(ids, feats, torch.tensor([True, True]))
    assert logits.shape == (2, ids.shape[1], VOCAB) and torch.isfinite(logits).all()
    assert len(cache) == 2


@pytest.mark.parametrize("name", ["linear", "mlp2x_gelu", "cross_attn"])
def test_pooling_sets_the_image_token_budget(name):
    model = tiny(name, pool=2)
    feats = model.image_features(images(1))
    assert feats.shape[1] == 4  # 4x4 patches pooled 2x2
    assert model.image_tokens == (0 if name == "cross_attn" else 4)


def test_cross_attn_with_gates_at_zero_is_exactly_the_text_only_lm():
    model = tiny("cross_attn")
    ids = torch.tensor([[5, 6, 7, 8]])
    with_image, _ = model(ids, model.image_features(images(1)), torch.tensor([True]))
    positions = torch.arange(4)[None]
    text_only = model.lm.logits(model.lm(model.lm.embed(ids), positions)[0])
    assert torch.equal(with_image, text_only)


@pytest.mark.parametrize("name", CONNECTORS.names())
def test_the_image_reaches_the_output(name):
    model = open_gates(tiny(name))
    ids = torch.tensor([prompt(model, [5, 6])])
    a, _ = model(ids, model.image_features(images(1, seed=1)), torch.tensor([True]))
    b, _ = model(ids, model.image_features(images(1, seed=2)), torch.tensor([True]))
    assert not torch.allclose(a[0, -1], b[0, -1])


def test_image_token_count_mismatch_raises_a_clear_error():
    model = tiny("mlp2x_gelu")
    ids = torch.tensor([[IMG] * 3 + [5, 6]])
    with pytest.raises(ValueError, match=r"row 0 has 3 image tokens but 16 image features"):
        model(ids, model.image_features(images(1)), torch.tensor([True]))


def test_bidirectional_image_attention_changes_only_what_it_should():
    causal, bidir = tiny("linear"), tiny("linear", image_attention="bidirectional")
    bidir.load_state_dict(causal.state_dict())
    ids = torch.tensor([prompt(causal, [5, 6])])
    feats = causal.image_features(images(1))
    a, _ = causal(ids, feats, torch.tensor([True]))
    b, _ = bidir(ids, feats, torch.tensor([True]))
    assert not torch.allclose(a[0, -1], b[0, -1])  # text sees image tokens that saw each other
    text = torch.tensor([[5, 6, 7]])  # no image tokens: the two modes must agree exactly
    assert torch.equal(causal(text)[0], bidir(text)[0])


@pytest.mark.parametrize("name", CONNECTORS.names())
def test_kv_cache_and_left_padding_match_the_plain_forward(name):
    model = open_gates(tiny(name))
    feats = model.image_features(images(2))
    long, short = prompt(model, [5, 6, 7, 8]), prompt(model, [9, 10])
    ref_long, _ = model(torch.tensor([long]), feats[:1], torch.tensor([True]))
    ref_short, _ = model(torch.tensor([short]), feats[1:], torch.tensor([True]))
    # Batch of 2 with left padding equals each row alone (batch 1 == batch N).
    pad = len(long) - len(short)
    ids = torch.tensor([long, [0] * pad + short])
    mask = torch.tensor([[1] * len(long), [0] * pad + [1] * len(short)])
    batched, _ = model(ids, feats, torch.tensor([True, True]), attention_mask=mask)
    torch.testing.assert_close(batched[0, -1], ref_long[0, -1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batched[1, -1], ref_short[0, -1], atol=1e-5, rtol=1e-5)
    # Prefill then one cached step equals the full forward on the longer sequence.
    _, cache = model(torch.tensor([long[:-1]]), feats[:1], torch.tensor([True]))
    step, _ = model(torch.tensor([long[-1:]]), feats[:1] if name == "cross_attn" else None,
                    torch.tensor([True]), past=cache)
    torch.testing.assert_close(step[0, -1], ref_long[0, -1], atol=1e-5, rtol=1e-5)
    # Decoding into reserved buffers (in place) gives the concatenating cache's numbers exactly.
    _, buffered = model(torch.tensor([long[:-3]]), feats[:1], torch.tensor([True]))
    buffered = model.lm.reserve(buffered, len(long))
    _, concatenated = model(torch.tensor([long[:-3]]), feats[:1], torch.tensor([True]))
    memory = feats[:1] if name == "cross_attn" else None
    for token in long[-3:]:
        a, buffered = model(torch.tensor([[token]]), memory, torch.tensor([True]), past=buffered)
        b, concatenated = model(torch.tensor([[token]]), memory, torch.tensor([True]),
                                past=concatenated)
        assert torch.equal(a, b)
    assert model.lm.past_length(buffered) == len(long)
    with pytest.raises(ValueError, match="KV buffer holds"):
        model(torch.tensor([[5]]), memory, torch.tensor([True]), past=buffered)


@pytest.mark.parametrize("name", CONNECTORS.names())
def test_twenty_training_steps_reduce_the_loss(name):
    model = tiny(name).train()
    ids = torch.tensor([prompt(model, [5, 6, 7, 8, 9]), prompt(model, [9, 8, 7, 6, 5])])
    pixels = images(2)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        logits, _ = model(ids, model.image_features(pixels), torch.tensor([True, True]))
        text = slice(model.image_tokens, ids.shape[1] - 1)
        loss = F.cross_entropy(logits[:, text].reshape(-1, VOCAB), ids[:, model.image_tokens + 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("build,field", [
    (lambda: VisionConfig(image_size=16, patch_size=5), "patch_size"),
    (lambda: VisionConfig(dim=0), "vision.dim"),
    (lambda: ConnectorConfig(image_attention="full"), "image_attention"),
    (lambda: VLMConfig(lm=LMConfig(vocab_size=VOCAB), connector=ConnectorConfig(pool=3)), "pool"),
    (lambda: VLMConfig(lm=LMConfig(vocab_size=VOCAB), image_token_id=99), "image_token_id"),
])
def test_configs_validate_when_built(build, field):
    with pytest.raises(ConfigError, match=field):
        build()


def test_config_json_round_trip_and_missing_fields():
    cfg = VLMConfig(lm=LMConfig(vocab_size=VOCAB), connector=ConnectorConfig(name="resampler"))
    assert VLMConfig.from_json(cfg.to_json()) == cfg
    data = cfg.to_json()
    del data["lm"]["vocab_size"]
    with pytest.raises(ConfigError, match="vocab_size"):
        VLMConfig.from_json(data)
