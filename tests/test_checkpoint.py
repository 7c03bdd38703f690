import json

import pytest
import torch

from vlmeval.errors import ConfigError
from vlmeval.vlm.checkpoint import is_checkpoint, load_checkpoint, save_checkpoint
from vlmeval.vlm.config import ConnectorConfig, LMConfig, VisionConfig, VLMConfig
from vlmeval.vlm.connectors import CONNECTORS
from vlmeval.vlm.model import VLM
from vlmeval.vlm.tokenizer import EOS, IMAGE, PAD, build_tokenizer

CORPUS = ["Is there a red star in the image?", "Yes.", "No, there is no moon.", "two circles"]


def test_tokenizer_specials_round_trip():
    tok = build_tokenizer(CORPUS)
    assert (tok.token_to_id("<pad>"), tok.token_to_id("<image>"), tok.token_to_id("<eos>")) == (PAD, IMAGE, EOS)
    ids = tok.encode("Is there a red star in the image?").ids
    assert tok.decode(ids) == "is there a red star in the image?"
    assert tok.encode("a purple hexagon").ids[1:] == [tok.token_to_id("<unk>")] * 2


@pytest.mark.parametrize("name", CONNECTORS.names())
def test_save_load_round_trip_gives_the_same_outputs(tmp_path, name):
    tok = build_tokenizer(CORPUS)
    torch.manual_seed(0)
    cfg = VLMConfig(lm=LMConfig(vocab_size=tok.get_vocab_size(), dim=32, depth=2, heads=2, max_len=64),
                    vision=VisionConfig(image_size=16, patch_size=4, dim=16, depth=1, heads=2),
                    connector=ConnectorConfig(name=name, queries=4, every=1), image_token_id=IMAGE)
    model = VLM(cfg).eval()
    save_checkpoint(tmp_path / "ckpt", model, tok, {"steps": 0, "seed": 0})
    assert is_checkpoint(tmp_path / "ckpt")
    loaded, tok2, train = load_checkpoint(tmp_path / "ckpt")
    assert loaded.cfg == cfg and train == {"steps": 0, "seed": 0}
    assert tok2.encode("two circles").ids == tok.encode("two circles").ids
    ids = torch.tensor([[IMAGE] * model.image_tokens + tok.encode("yes.").ids])
    pixels = torch.rand(1, 3, 16, 16)
    a, _ = model(ids, model.image_features(pixels), torch.tensor([True]))
    b, _ = loaded(ids, loaded.image_features(pixels), torch.tensor([True]))
    assert torch.equal(a, b)


def test_bad_checkpoints_fail_with_the_file_and_the_fix(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(ConfigError, match="missing config.json, model.safetensors"):
        load_checkpoint(tmp_path / "x")
    assert not is_checkpoint(tmp_path / "x")
    for f in ("config.json", "model.safetensors", "tokenizer.json", "train.json"):
        (tmp_path / "x" / f).write_text("{}")
    (tmp_path / "x" / "config.json").write_text(json.dumps({"format": "llava"}))
    with pytest.raises(ConfigError, match=r"config.json: field 'format' is 'llava'"):
        load_checkpoint(tmp_path / "x")
