"""Bring-your-own parts: tiny random-weight HF CLIP/SigLIP towers and causal LMs (with a locally
trained tokenizer), built here, assembled into our VLM, trained a few steps, saved, reloaded and
served by the native adapter."""

import json

import pytest
import torch
import transformers
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from vlmeval import cli
from vlmeval.adapters.native import FeatureCache, NativeAdapter
from vlmeval.data import scenes_samples
from vlmeval.errors import ConfigError
from vlmeval.records import Request
from vlmeval.vlm import curriculum, template
from vlmeval.vlm.checkpoint import load_checkpoint
from vlmeval.vlm.loop import trainable
from vlmeval.vlm.pretrain import to_float
from vlmeval.vlm.train import VisualData, build_model, recipe_for, render_pool, train

TINY_VIT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                image_size=32, patch_size=8)
STEPS = {"encoder": 0, "lm": 0, "align": 3, "instruct": 3}


def _tokenizer_dir(path):
    """A BPE tokenizer trained on the scenes' vocabulary, saved as an HF fast tokenizer."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(curriculum.vocabulary_corpus(), trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>",
                                                bos_token="<s>", eos_token="</s>")
    fast.save_pretrained(path)
    return fast


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    torch.manual_seed(0)
    transformers.CLIPVisionModel(transformers.CLIPVisionConfig(**TINY_VIT)).save_pretrained(root / "clip")
    transformers.SiglipVisionModel(transformers.SiglipVisionConfig(**TINY_VIT)).save_pretrained(
        root / "siglip")
    for name, make in (
        ("llama", lambda v: transformers.LlamaForCausalLM(transformers.LlamaConfig(
            vocab_size=v, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512))),
        ("gpt2", lambda v: transformers.GPT2LMHeadModel(transformers.GPT2Config(  # tied head
            vocab_size=v, n_embd=32, n_layer=2, n_head=4, n_positions=512,
            bos_token_id=1, eos_token_id=2))),
    ):
        fast = _tokenizer_dir(root / name)
        make(len(fast)).save_pretrained(root / name)
    return root


def _requests(n_images):
    """Two questions per image and a text-only one, with different generation budgets."""
    out = [Request(task="t", request_id=f"{i}/{j}", sample_id=s.id, prompt=q, image=s.image,
                   target="yes", options=("yes", "no"), max_new_tokens=3 + i)
           for i, s in enumerate(scenes_samples("eval", n_images))
           for j, q in enumerate(("Is there a star in the image?", "How many moons are there?"))]
    return out + [Request(task="t", request_id="text", sample_id="text", image=None,
                          prompt="What is 2 plus 3?", target="5", options=("5", "6"),
                          max_new_tokens=3)]


def test_assembly_loads_the_pretrained_weights_and_adds_the_special_tokens(parts):
    model, tok = build_model(recipe_for("mlp2x_gelu", vision_encoder=str(parts / "clip"),
                                        lm=str(parts / "llama")))
    source = transformers.CLIPVisionModel.from_pretrained(parts / "clip")
    for name, value in source.state_dict().items():
        assert torch.equal(model.vision.model.state_dict()[name], value), name
    lm = transformers.LlamaForCausalLM.from_pretrained(parts / "llama")
    old = lm.get_input_embeddings().weight
    assert torch.equal(model.lm.embed.weight[: len(old)], old)
    # <image>, <pad>, <bos>, <eos> were added after the LM's own 300 tokens.
    assert all(tok.token_to_id(s) >= len(old) for s in ("<image>", "<pad>", "<bos>", "<eos>"))
    assert model.cfg.image_token_id == tok.token_to_id("<image>")
    assert model.cfg.lm.vocab_size == tok.get_vocab_size() == len(old) + 4
    # CLIP: 32 px / 8 px patches = 16 patch features (class token dropped), pooled 2x2 -> 4.
    assert model.vision(torch.rand(2, 3, 64, 64)).shape == (2, 16, 32)
    assert model.image_tokens == 4


@pytest.mark.parametrize("vision,lm", [("clip", "llama"), ("siglip", "gpt2"), ("siglip", None)])
def test_train_save_load_and_serve(parts, tmp_path, vision, lm):
    steps = {**STEPS, "lm": 3} if lm is None else STEPS
    recipe = recipe_for("mlp2x_gelu", train_images=16, steps=steps, val_images=8,
                        vision_encoder=str(parts / vision), lm=lm and str(parts / lm))
    record = train(recipe, tmp_path / "ckpt")
    assert record["losses"]["encoder"] == []  # the HF encoder is not pretrained again
    assert (record["losses"]["lm"] == []) == (lm is not None)
    assert len(record["losses"]["instruct"]) == 1 and record["losses"]["instruct"][0][1] > 0
    meta = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert meta["config"]["vision"]["hf"]["config"]["model_type"] == f"{vision}_vision_model"

    # The checkpoint is self-contained: it loads without the source directories' weights.
    loaded, tok, _ = load_checkpoint(tmp_path / "ckpt")
    adapter = NativeAdapter("t", tmp_path / "ckpt", cache=FeatureCache())
    requests = _requests(3)
    batched = adapter.generate(requests)
    assert batched == [adapter.generate([r])[0] for r in requests]
    assert adapter.encoder_calls == 3
    scores = adapter.score(requests)
    assert all(len(s) == 2 and all(x < 0 for x in s) for s in scores)
    single = [adapter.score([r])[0] for r in requests]
    assert torch.allclose(torch.tensor(scores), torch.tensor(single), atol=1e-4)
    ids = template.prompt_ids(tok, "Is there a star?", loaded.image_tokens)
    assert ids.count(loaded.cfg.image_token_id) == loaded.image_tokens


def test_twenty_training_steps_reduce_the_loss_with_hf_parts(parts):
    recipe = recipe_for("mlp2x_gelu", vision_encoder=str(parts / "clip"), lm=str(parts / "llama"))
    model, tok = build_model(recipe)
    data = VisualData(model, tok, model.vision(to_float(render_pool(4))).detach(), recipe, "instruct")
    batch = [data.example() for _ in range(8)]  # one fixed batch, fitted
    opt = torch.optim.AdamW(trainable(model.connector, model.lm), lr=1e-2)
    losses = []
    for _ in range(20):
        loss = data.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], f"{losses[0]:.2f} -> {losses[-1]:.2f}"


def test_bad_parts_fail_with_the_file_and_the_fix(parts, tmp_path):
    with pytest.raises(ConfigError, match="cross_attn needs the built-in LM"):
        recipe_for("cross_attn", lm=str(parts / "llama"))
    with pytest.raises(ConfigError, match=r"no config.json; --vision-encoder takes a local"):
        build_model(recipe_for("linear", vision_encoder=str(tmp_path)))
    with pytest.raises(ConfigError, match=r"model_type 'llama' is not a supported vision tower"):
        build_model(recipe_for("linear", vision_encoder=str(parts / "llama")))
    with pytest.raises(ConfigError, match="pool"):
        build_model(recipe_for("linear", vision_encoder=str(parts / "clip"), pool=3))


def test_train_with_hf_parts_then_run_from_the_command_line(parts, tmp_path, capsys):
    out = tmp_path / "ckpt"
    assert cli.main(["train", "--connector", "resampler", "--vision-encoder", str(parts / "siglip"),
                     "--lm", str(parts / "llama"), "--out", str(out), "--train-images", "16",
                     "--steps", "align=2,instruct=2", "--pool", "1"]) == 0
    assert "checkpoint:" in capsys.readouterr().out
    record = json.loads((out / "train.json").read_text())
    assert record["recipe"]["lm"] == str(parts / "llama") and record["recipe"]["pool"] == 1
    assert cli.main(["run", "--model", str(out), "--tasks", "pope", "--limit", "2",
                     "--out", str(tmp_path / "run")]) == 0
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["attempts"][-1]["counters"]["encoder_calls"] == 2  # --limit 2: two images
    assert cli.main(["train", "--lm", str(tmp_path), "--out", str(out)]) == 2
    assert "no config.json; --lm takes a local" in capsys.readouterr().err
