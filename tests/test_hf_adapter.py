"""The Hugging Face adapter on tiny random-weight checkpoints of five families (LLaVA,
PaliGemma, Gemma 3, BLIP-2, Mllama), built here with a locally trained tokenizer and saved with save_pretrained.
Every test that takes `checkpoint` runs once per family in FAMILIES."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from vlmeval.adapters import resolve_model
from vlmeval.adapters.hf import HFAdapter
from vlmeval.cli import main
from vlmeval.data import scenes_samples
from vlmeval.errors import ConfigError
from vlmeval.parsing import parse_yes_no
from vlmeval.records import Request
from vlmeval.vlm import curriculum

TINY_TEXT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=512)
TINY_VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                   image_size=32, patch_size=8)


def _bpe(specials):
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = [*curriculum.vocabulary_corpus(), *["yes", "no"] * 50]  # answers as single tokens
    tok.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=600, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return tok


def _plant_yes_no(model, tokenizer):
    """Make "yes" or "no" the token greedy decoding picks first, which one depending on the
    input: every other row of the output head is zero, and "no" is minus "yes". Generate and
    score must then agree on every question."""
    head = model.get_output_embeddings().weight
    (yes,) = tokenizer("yes", add_special_tokens=False)["input_ids"]
    (no,) = tokenizer("no", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        direction = torch.randn(head.shape[1], generator=torch.Generator().manual_seed(0))
        head.zero_()
        head[yes], head[no] = direction, -direction


def build_llava(path):
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=_bpe(["<unk>", "<s>", "</s>", "<pad>", "<image>"]), unk_token="<unk>",
        bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    template = ("{% for m in messages %}{{ m['role'] }}: {% for c in m['content'] %}"
                "{% if c['type'] == 'image' %}<image>{% else %}{{ c['text'] }}{% endif %}"
                "{% endfor %} {% endfor %}{% if add_generation_prompt %}assistant:{% endif %}")
    processor = transformers.LlavaProcessor(
        image_processor=transformers.CLIPImageProcessor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=fast, patch_size=8, vision_feature_select_strategy="default",
        num_additional_image_tokens=1, chat_template=template)
    config = transformers.LlavaConfig(
        vision_config=transformers.CLIPVisionConfig(**TINY_VISION),
        text_config=transformers.LlamaConfig(vocab_size=len(fast), pad_token_id=fast.pad_token_id,
                                             **TINY_TEXT),
        image_token_id=fast.convert_tokens_to_ids("<image>"), vision_feature_select_strategy="default")
    torch.manual_seed(0)
    model = transformers.LlavaForConditionalGeneration(config)
    _plant_yes_no(model, fast)
    model.save_pretrained(path)
    processor.save_pretrained(path)


def build_paligemma(path):
    fast = transformers.GemmaTokenizerFast(
        tokenizer_object=_bpe(["<pad>", "<eos>", "<bos>", "<unk>", "<image>"]), unk_token="<unk>",
        eos_token="<eos>", pad_token="<pad>", bos_token="<bos>")
    image_processor = transformers.SiglipImageProcessor(size={"height": 32, "width": 32})
    image_processor.image_seq_length = 16
    processor = transformers.PaliGemmaProcessor(
        image_processor=image_processor, tokenizer=fast,
        chat_template="{% for m in messages %}{% for c in m['content'] %}{% if c['type'] == 'image' %}"
                      "<image>{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endfor %}")
    config = transformers.PaliGemmaConfig(
        vision_config=dict(model_type="siglip_vision_model", projection_dim=32, **TINY_VISION),
        text_config=dict(model_type="gemma", vocab_size=len(fast), head_dim=8,
                         tie_word_embeddings=False, **TINY_TEXT),  # the head is planted alone
        image_token_id=fast.convert_tokens_to_ids("<image>"), projection_dim=32)
    torch.manual_seed(0)
    model = transformers.PaliGemmaForConditionalGeneration(config)
    _plant_yes_no(model, fast)
    model.save_pretrained(path)
    processor.save_pretrained(path)


def build_gemma3(path):
    """Gemma 3: a flat image list reads as one prompt with every image, a token type of 1
    means "image", and the begin-of-image token is not where features go (16 soft tokens are)."""
    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_image>", "<end_of_image>",
                "<image_soft_token>"]
    fast = transformers.GemmaTokenizerFast(
        tokenizer_object=_bpe(specials), unk_token="<unk>", eos_token="<eos>", pad_token="<pad>",
        bos_token="<bos>", extra_special_tokens={"image_token": "<image_soft_token>",
                                                 "boi_token": "<start_of_image>",
                                                 "eoi_token": "<end_of_image>"})
    template = ("{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {% for c in m['content'] %}"
                "{% if c['type'] == 'image' %}<start_of_image>{% else %}{{ c['text'] }}{% endif %}"
                "{% endfor %} {% endfor %}{% if add_generation_prompt %}model:{% endif %}")
    processor = transformers.Gemma3Processor(
        image_processor=transformers.Gemma3ImageProcessor(size={"height": 32, "width": 32}),
        tokenizer=fast, chat_template=template, image_seq_length=16)
    config = transformers.Gemma3Config(
        text_config=dict(vocab_size=len(fast), head_dim=8, sliding_window=64,
                         tie_word_embeddings=False, **TINY_TEXT),
        vision_config=dict(**TINY_VISION), mm_tokens_per_image=16,
        boi_token_index=fast.convert_tokens_to_ids("<start_of_image>"),
        eoi_token_index=fast.convert_tokens_to_ids("<end_of_image>"),
        image_token_index=fast.convert_tokens_to_ids("<image_soft_token>"))
    torch.manual_seed(0)
    model = transformers.Gemma3ForConditionalGeneration(config)
    with torch.no_grad():  # the projection starts at zero: give the image a way in
        for name, p in model.named_parameters():
            if "multi_modal_projector" in name and not p.any():
                p.normal_(0.0, 0.5)
    _plant_yes_no(model, fast)
    model.save_pretrained(path)
    processor.save_pretrained(path)


def build_blip2(path):
    """BLIP-2: no chat template (the adapter's "Question: ... Answer:" prompt), 16 query tokens
    from a Q-Former as the image, an OPT language model."""
    fast = transformers.GPT2TokenizerFast(
        tokenizer_object=_bpe(["<unk>", "<s>", "</s>", "<pad>"]), unk_token="<unk>",
        bos_token="</s>", eos_token="</s>", pad_token="<pad>")
    processor = transformers.Blip2Processor(  # adds its <image> token to the tokenizer
        image_processor=transformers.BlipImageProcessor(size={"height": 32, "width": 32}),
        tokenizer=fast, num_query_tokens=16)
    tokenizer = processor.tokenizer
    config = transformers.Blip2Config(
        vision_config=dict(**TINY_VISION),
        qformer_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=64, encoder_hidden_size=32, vocab_size=100),
        text_config=dict(model_type="opt", vocab_size=len(tokenizer), hidden_size=32, ffn_dim=64,
                         num_hidden_layers=2, num_attention_heads=4, word_embed_proj_dim=32,
                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False),
        num_query_tokens=16, image_token_index=tokenizer.convert_tokens_to_ids("<image>"))
    torch.manual_seed(0)
    model = transformers.Blip2ForConditionalGeneration(config)
    _plant_yes_no(model, tokenizer)
    model.save_pretrained(path)
    processor.save_pretrained(path)


def build_mllama(path):
    """Llama 3.2 Vision (Mllama): the image is read through gated cross-attention layers (a
    4-D cross-attention mask), not as tokens in the prompt; one 32 px tile of 16 patches."""
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=_bpe(["<unk>", "<|begin_of_text|>", "<|eot_id|>", "<pad>", "<|image|>"]),
        unk_token="<unk>", bos_token="<|begin_of_text|>", eos_token="<|eot_id|>", pad_token="<pad>")
    template = ("{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {% for c in m['content'] %}"
                "{% if c['type'] == 'image' %}<|image|>{% else %}{{ c['text'] }}{% endif %}"
                "{% endfor %} {% endfor %}{% if add_generation_prompt %}assistant:{% endif %}")
    processor = transformers.MllamaProcessor(
        image_processor=transformers.MllamaImageProcessor(size={"height": 32, "width": 32},
                                                          max_image_tiles=1),
        tokenizer=fast, chat_template=template)
    config = transformers.MllamaConfig(
        vision_config=dict(hidden_size=32, num_hidden_layers=2, num_global_layers=1,
                           attention_heads=4, intermediate_size=64, vision_output_dim=64,
                           image_size=32, patch_size=8, max_num_tiles=1,
                           intermediate_layers_indices=[0], supported_aspect_ratios=[[1, 1]]),
        text_config=dict(vocab_size=len(fast), hidden_size=32, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, intermediate_size=64,
                         cross_attention_layers=[1], pad_token_id=fast.pad_token_id,
                         bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                         tie_word_embeddings=False),
        image_token_index=fast.convert_tokens_to_ids("<|image|>"))
    torch.manual_seed(0)
    model = transformers.MllamaForConditionalGeneration(config)
    with torch.no_grad():  # cross-attention gates start at zero: open them
        for name, p in model.named_parameters():
            if "gate" in name and not p.any():
                p.fill_(1.0)
    _plant_yes_no(model, fast)
    model.save_pretrained(path)
    processor.save_pretrained(path)


FAMILIES = {"llava": build_llava, "paligemma": build_paligemma, "gemma3": build_gemma3,
            "blip2": build_blip2, "mllama": build_mllama}
# What one image costs each family: 16 positions in the prompt, except Mllama, whose text
# cross-attends to its tile's 16 patches and class token.
IMAGE_TOKENS = {"mllama": 17}


def image_tokens(checkpoint) -> int:
    return IMAGE_TOKENS.get(checkpoint.name.rstrip("0123456789"), 16)


@pytest.fixture(scope="module", params=list(FAMILIES))
def checkpoint(request, tmp_path_factory):
    path = tmp_path_factory.mktemp(request.param)
    FAMILIES[request.param](path)
    return path


def _requests(n_images=4):
    out = [Request(task="t", request_id=f"{i}/{j}", sample_id=s.id, prompt=q, image=s.image,
                   target="yes", options=("yes", "no"), max_new_tokens=2 + i)
           for i, s in enumerate(scenes_samples("eval", n_images))
           for j, q in enumerate(("Is there a star in the image?", "Is there a moon in the image?"))]
    return out + [Request(task="t", request_id="text", sample_id="text", image=None,
                          prompt="What is 2 plus 3?", target="5", options=("5", "6"), max_new_tokens=3)]


def test_directory_is_detected_and_batch_of_one_equals_batch_of_n(checkpoint):
    adapter = resolve_model(str(checkpoint))
    assert isinstance(adapter, HFAdapter) and adapter.info()["image_tokens"] == image_tokens(checkpoint)
    requests = _requests()
    batched_text, batched_scores = adapter.generate(requests), adapter.score(requests)
    for k, r in enumerate(requests):
        assert adapter.generate([r]) == [batched_text[k]]
        assert adapter.score([r])[0] == pytest.approx(batched_scores[k], abs=1e-4)


def test_generate_and_score_agree_on_the_chosen_option(checkpoint):
    adapter = resolve_model(str(checkpoint))
    requests = [replace(r, max_new_tokens=1) for r in _requests(8) if r.image is not None]

    def both():
        answers = [parse_yes_no(t, "strict").answer for t in adapter.generate(requests)]
        chosen = ["yes" if s[0] > s[1] else "no" for s in adapter.score(requests)]
        assert answers == chosen
        return chosen

    first = both()
    head = adapter.model.get_output_embeddings().weight
    with torch.no_grad():
        head.neg_()  # swap the planted "yes" and "no" directions
    assert both() == ["no" if c == "yes" else "yes" for c in first]


def _run_and_check(checkpoint, out, what):
    assert main(["run", "--model", str(checkpoint), *what, "--batch-size", "8", "--out", str(out)]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["model"]["adapter"] == "HFAdapter"
    assert run["model"]["generation"]["do_sample"] is False
    results = json.loads((out / "results.json").read_text())["tasks"]
    for name in results:
        records = [json.loads(line) for line in (out / "samples" / f"{name}.jsonl").open()]
        assert records and all(r["error"] is None and r["raw"] is not None for r in records)
        with_image = [r for r in records if r["image"] is not None and r["image"]["source"] == "scenes"]
        assert with_image and all(r["prompt"] in r["model_prompt"] for r in with_image)
    assert results["pope"]["metrics"]["random/roc_auc"]["n"] > 0  # score mode ran
    return results


def test_pope_runs_with_the_templated_prompt_stored(checkpoint, tmp_path):
    _run_and_check(checkpoint, tmp_path / "run", ["--tasks", "pope,blind", "--limit", "4"])


@pytest.mark.slow
def test_hallucination_suite_limit_40(checkpoint, tmp_path):
    results = _run_and_check(checkpoint, tmp_path / "run",
                             ["--suite", "hallucination", "--limit", "40"])
    assert set(results) == {"pope", "chair", "image_swap", "blind"}


def test_safety_checks(tmp_path, capsys):
    (tmp_path / "config.json").write_text('{"model_type": "llava"}')
    (tmp_path / "preprocessor_config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"not really")
    with pytest.raises(ConfigError, match="only pickle weights .* --allow-pickle"):
        resolve_model(str(tmp_path))
    assert main(["run", "--model", "some-org/some-vlm", "--tasks", "pope"]) == 2
    assert "only local checkpoints" in capsys.readouterr().err


def test_doctor_reports_on_a_hf_checkpoint(checkpoint, capsys):
    assert main(["doctor", "--model", str(checkpoint), "--n", "4"]) == 0
    out = capsys.readouterr().out
    assert "HFAdapter" in out and f"image tokens  {image_tokens(checkpoint)} per image" in out
    assert "batch 1 vs 4  agree" in out and "image reaches yes" in out and "model prompt" in out


def test_importing_vlmeval_turns_the_hf_offline_switches_on():
    import subprocess
    import sys

    code = ("import os; [os.environ.pop(k, None) for k in ('HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE', "
            "'HF_DATASETS_OFFLINE')]; import vlmeval, huggingface_hub.constants as c; "
            "print(c.HF_HUB_OFFLINE, os.environ['TRANSFORMERS_OFFLINE'], os.environ['HF_DATASETS_OFFLINE'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "1", "1"]


def test_a_processor_that_cannot_load_gives_a_one_line_error(tmp_path, capsys):
    (tmp_path / "config.json").write_text('{"model_type": "llava"}')
    (tmp_path / "preprocessor_config.json").write_text('{"processor_class": "NoSuchProcessor"}')
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert main(["run", "--model", str(tmp_path), "--tasks", "pope", "--limit", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(tmp_path) in err
    assert "could not load its processor" in err or "found no tokenizer" in err
