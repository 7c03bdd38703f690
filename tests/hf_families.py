"""Tiny random-weight checkpoints of each Hugging Face VLM family, built on the spot.

Each builder writes a checkpoint directory as save_pretrained does for the real models: the
family's own config, model class, processor (or its parts) and a chat template, with a
tokenizer trained here on the project's vocabulary. The weights are random, except:
- the output head is planted so greedy decoding answers "yes" or "no" depending on the input
  (`_plant_yes_no`), so generate and score can be checked against each other;
- a projection or gate that starts at zero is given values, so the image reaches the output.
Used by tests/test_hf_adapter.py (FAMILIES) and by docs/hf-families.md's survey command.
"""

from __future__ import annotations

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from vlmeval.adapters.hf import image_only
from vlmeval.vlm import curriculum

TINY_TEXT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=512)
TINY_VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                   image_size=32, patch_size=8)


def _bpe(specials):
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    # answers as single tokens in every surface form (as in real vocabularies): each word
    # also after a space, and in three cases
    words = ["yes", "no", "Yes", "No", "YES", "NO"]
    corpus = [*curriculum.vocabulary_corpus(),
              *[*words, " ".join(words), " ".join(words[::-1])] * 50]
    tok.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=600, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return tok


def _plant_yes_no(model, tokenizer, words=("yes", "no"), scale=1.0):
    """Make `words` ("yes" or "no") the token greedy decoding picks first, which one depending
    on the input: every other row of the output head is zero, and "no" is minus "yes" (their
    length `scale` times a random draw's). Generate and score must then agree on every
    question."""
    head = model.get_output_embeddings().weight
    (yes,) = tokenizer(words[0], add_special_tokens=False)["input_ids"]
    (no,) = tokenizer(words[1], add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        direction = scale * torch.randn(head.shape[1], generator=torch.Generator().manual_seed(0))
        head.zero_()
        head[yes], head[no] = direction, -direction


def _template(image: str, *, bos: bool = False, turn: str = "{role}: ", end: str = " ",
              generation: str = "assistant:") -> str:
    """A chat template in the family's shape: each message as `turn` + its parts + `end`, the
    image part as the family's image placeholder, and the generation prompt."""
    return (("{{ bos_token }}" if bos else "")
            + "{% for m in messages %}" + turn.replace("{role}", "{{ m['role'] }}")
            + "{% for c in m['content'] %}{% if c['type'] == 'image' %}" + image
            + "{% else %}{{ c['text'] }}{% endif %}{% endfor %}" + end
            + "{% endfor %}{% if add_generation_prompt %}" + generation + "{% endif %}")


def _give_values(model, *names: str, value: float | None = None) -> None:
    """Parameters under `names` that start at zero get values (or `value`): a zero projection
    or gate would keep the image from the output."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if any(n in name for n in names) and not p.any():
                p.fill_(value) if value is not None else p.normal_(0.0, 0.5)


def _save(model, tokenizer, parts, path, template=None):
    """Plant the answer head, then save the model and its processor (or, for a processor
    without its video part, the parts and template, as a real checkpoint's files read)."""
    _plant_yes_no(model, tokenizer)
    model.save_pretrained(path)
    parts.save_pretrained(path)
    if template is not None:
        (path / "chat_template.jinja").write_text(template)


def build_llava(path, *, image_size=32, patch_size=8, text=None):
    """A tiny LLaVA; bench/hf_shared_images.py asks for a wider one with LLaVA-1.5's 576 image
    tokens (image_size=336, patch_size=14)."""
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=_bpe(["<unk>", "<s>", "</s>", "<pad>", "<image>"]), unk_token="<unk>",
        bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    template = ("{% for m in messages %}{{ m['role'] }}: {% for c in m['content'] %}"
                "{% if c['type'] == 'image' %}<image>{% else %}{{ c['text'] }}{% endif %}"
                "{% endfor %} {% endfor %}{% if add_generation_prompt %}assistant:{% endif %}")
    processor = transformers.LlavaProcessor(
        image_processor=transformers.CLIPImageProcessor(
            size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}),
        tokenizer=fast, patch_size=patch_size, vision_feature_select_strategy="default",
        num_additional_image_tokens=1, chat_template=template)
    config = transformers.LlavaConfig(
        vision_config=transformers.CLIPVisionConfig(
            **{**TINY_VISION, "image_size": image_size, "patch_size": patch_size}),
        text_config=transformers.LlamaConfig(vocab_size=len(fast), pad_token_id=fast.pad_token_id,
                                             **{**TINY_TEXT, **(text or {})}),
        image_token_id=fast.convert_tokens_to_ids("<image>"), vision_feature_select_strategy="default")
    torch.manual_seed(0)
    model = transformers.LlavaForConditionalGeneration(config)
    _save(model, fast, processor, path)


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
    _save(model, fast, processor, path)


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
    _give_values(model, "multi_modal_projector")  # it starts at zero: give the image a way in
    _save(model, fast, processor, path)


def _qformer(**extra) -> dict:
    return dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                encoder_hidden_size=32, **extra)


def _blip_lm(tokenizer) -> dict:
    """BLIP-2 and InstructBLIP: an OPT language model reading 16 query tokens as the image."""
    return dict(text_config=dict(model_type="opt", vocab_size=len(tokenizer), hidden_size=32,
                                 ffn_dim=64, num_hidden_layers=2, num_attention_heads=4,
                                 word_embed_proj_dim=32, pad_token_id=tokenizer.pad_token_id,
                                 tie_word_embeddings=False),
                num_query_tokens=16, image_token_index=tokenizer.convert_tokens_to_ids("<image>"))


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
        qformer_config=_qformer(vocab_size=100), **_blip_lm(tokenizer))
    torch.manual_seed(0)
    model = transformers.Blip2ForConditionalGeneration(config)
    _save(model, tokenizer, processor, path)


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
    _give_values(model, "gate", value=1.0)  # cross-attention gates start at zero: open them
    _save(model, fast, processor, path)




def _qwen_tokenizer():
    specials = ["<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>",
                "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
    return transformers.Qwen2TokenizerFast(
        tokenizer_object=_bpe(specials), unk_token="<unk>", eos_token="<|im_end|>",
        pad_token="<|endoftext|>")


QWEN_TEMPLATE = _template("<|vision_start|><|image_pad|><|vision_end|>", turn="<|im_start|>{role}\n",
                          end="<|im_end|>\n", generation="<|im_start|>assistant\n")


def _qwen_ids(tok):
    return dict(image_token_id=tok.convert_tokens_to_ids("<|image_pad|>"),
                video_token_id=tok.convert_tokens_to_ids("<|video_pad|>"),
                vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
                vision_end_token_id=tok.convert_tokens_to_ids("<|vision_end|>"))


def _qwen_text(tok, **extra):
    """A tiny Qwen text config with multimodal rotary sections (t, h, w) over head_dim 8."""
    return dict(vocab_size=len(tok), pad_token_id=tok.pad_token_id, bos_token_id=tok.pad_token_id,
                eos_token_id=tok.eos_token_id, **TINY_TEXT, **extra,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                 "mrope_section": [1, 1, 2]})


QWEN_VISION = dict(depth=2, num_heads=4, patch_size=8, spatial_merge_size=2, temporal_patch_size=2)


def _build_qwen(path, model_class, config_class, vision: dict, text: dict, tok, ip_class):
    """Qwen2-VL and its successors: the image as 8 px patches merged 2x2 (64 px: 16 tokens),
    a processor saved without its video processor (it needs torchvision)."""
    image_processor = ip_class(min_pixels=64 * 64, max_pixels=64 * 64, patch_size=8, merge_size=2)
    config = config_class(vision_config=vision, text_config=text, **_qwen_ids(tok))
    torch.manual_seed(0)
    model = model_class(config)
    tok.save_pretrained(path)
    _save(model, tok, image_processor, path, QWEN_TEMPLATE)


def build_qwen2_vl(path):
    tok = _qwen_tokenizer()
    _build_qwen(path, transformers.Qwen2VLForConditionalGeneration, transformers.Qwen2VLConfig,
                dict(embed_dim=32, hidden_size=32, **QWEN_VISION), _qwen_text(tok), tok,
                transformers.Qwen2VLImageProcessor)


def build_qwen2_5_vl(path):
    tok = _qwen_tokenizer()
    _build_qwen(path, transformers.Qwen2_5_VLForConditionalGeneration, transformers.Qwen2_5_VLConfig,
                dict(hidden_size=32, out_hidden_size=32, intermediate_size=64, window_size=32,
                     fullatt_block_indexes=[1], **QWEN_VISION), _qwen_text(tok), tok,
                transformers.Qwen2VLImageProcessor)


def build_qwen3_vl(path):
    tok = _qwen_tokenizer()
    _build_qwen(path, transformers.Qwen3VLForConditionalGeneration, transformers.Qwen3VLConfig,
                dict(hidden_size=32, out_hidden_size=32, intermediate_size=64,
                     num_position_embeddings=64, deepstack_visual_indexes=[0], **QWEN_VISION),
                {**_qwen_text(tok, head_dim=8),
                 "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                     "mrope_section": [1, 1, 2], "mrope_interleaved": True}},
                tok, transformers.Qwen2VLImageProcessor)


def build_llava_next(path):
    """LLaVA-NeXT: a base view plus high-resolution crops (one 32 px grid here), with a newline
    feature after each row."""
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=_bpe(["<unk>", "<s>", "</s>", "<pad>", "<image>"]), unk_token="<unk>",
        bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    processor = transformers.LlavaNextProcessor(
        image_processor=transformers.LlavaNextImageProcessor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
            image_grid_pinpoints=[[32, 32]]),
        tokenizer=fast, patch_size=8, vision_feature_select_strategy="default",
        num_additional_image_tokens=1, chat_template=_template("<image>"))
    config = transformers.LlavaNextConfig(
        vision_config=transformers.CLIPVisionConfig(**TINY_VISION),
        text_config=transformers.LlamaConfig(vocab_size=len(fast), pad_token_id=fast.pad_token_id,
                                             **TINY_TEXT),
        image_token_index=fast.convert_tokens_to_ids("<image>"), image_grid_pinpoints=[[32, 32]],
        vision_feature_layer=-1)
    torch.manual_seed(0)
    model = transformers.LlavaNextForConditionalGeneration(config)
    _give_values(model, "image_newline")
    _save(model, fast, processor, path)


def build_llava_onevision(path):
    """LLaVA-OneVision: SigLIP tower, Qwen2 language model, anyres crops; its processor saved
    without the video processor (torchvision)."""
    fast = _qwen_tokenizer()
    fast.add_special_tokens({"additional_special_tokens": ["<image>", "<video>"]})
    processor = image_only(transformers.LlavaOnevisionProcessor)(
        image_processor=transformers.LlavaOnevisionImageProcessor(
            size={"height": 32, "width": 32}, image_grid_pinpoints=[[32, 32]]),
        tokenizer=fast, num_image_tokens=16, vision_feature_select_strategy="full",
        chat_template=QWEN_TEMPLATE.replace("<|vision_start|><|image_pad|><|vision_end|>", "<image>"))
    config = transformers.LlavaOnevisionConfig(
        vision_config=dict(model_type="siglip_vision_model", **TINY_VISION),
        text_config=dict(model_type="qwen2", vocab_size=len(fast), pad_token_id=fast.pad_token_id,
                         **TINY_TEXT),
        image_token_index=fast.convert_tokens_to_ids("<image>"),
        video_token_index=fast.convert_tokens_to_ids("<video>"), image_grid_pinpoints=[[32, 32]])
    torch.manual_seed(0)
    model = transformers.LlavaOnevisionForConditionalGeneration(config)
    _give_values(model, "image_newline")
    _save(model, fast, processor, path)


def _idefics_tokenizer(extra=()):
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=_bpe(["<unk>", "<s>", "</s>", "<pad>", "<fake_token_around_image>",
                               "<image>", "<end_of_utterance>", "<global-img>", *extra]),
        unk_token="<unk>", bos_token="<s>", eos_token="<end_of_utterance>", pad_token="<pad>")


IDEFICS_TEMPLATE = _template("<image>", bos=True, turn="{role}: ", end="<end_of_utterance>\n",
                             generation="Assistant:")


def build_idefics2(path):
    """Idefics2: a perceiver resampler turns the patches into 16 latents."""
    fast = _idefics_tokenizer()
    processor = transformers.Idefics2Processor(
        image_processor=transformers.Idefics2ImageProcessor(
            do_image_splitting=False, size={"longest_edge": 32, "shortest_edge": 32}),
        tokenizer=fast, image_seq_len=16, chat_template=IDEFICS_TEMPLATE)
    config = transformers.Idefics2Config(
        vision_config=dict(**TINY_VISION),
        perceiver_config=dict(hidden_size=32, resampler_n_latents=16, resampler_depth=1,
                              resampler_n_heads=4, resampler_head_dim=8, num_key_value_heads=2),
        text_config=dict(model_type="mistral", vocab_size=len(fast), pad_token_id=fast.pad_token_id,
                         **TINY_TEXT),
        image_token_id=fast.convert_tokens_to_ids("<image>"))
    torch.manual_seed(0)
    model = transformers.Idefics2ForConditionalGeneration(config)
    _save(model, fast, processor, path)


def _build_idefics3_like(path, processor_class, image_processor_class, model_class, config_class):
    """Idefics3 and SmolVLM: 64 px, 8 px patches, pixel shuffle by 2: 16 image tokens."""
    fast = _idefics_tokenizer()
    processor = processor_class(
        image_processor=image_processor_class(
            do_image_splitting=False, size={"longest_edge": 64}, max_image_size={"longest_edge": 64}),
        tokenizer=fast, image_seq_len=16, chat_template=IDEFICS_TEMPLATE)
    config = config_class(
        vision_config=dict(**{**TINY_VISION, "image_size": 64}),
        text_config=dict(model_type="llama", vocab_size=len(fast), pad_token_id=fast.pad_token_id,
                         **TINY_TEXT),
        image_token_id=fast.convert_tokens_to_ids("<image>"), scale_factor=2)
    torch.manual_seed(0)
    _save(model_class(config), fast, processor, path)


def build_idefics3(path):
    _build_idefics3_like(path, transformers.Idefics3Processor, transformers.Idefics3ImageProcessor,
                         transformers.Idefics3ForConditionalGeneration, transformers.Idefics3Config)


def build_smolvlm(path):
    """SmolVLM: Idefics3's design with a video processor (saved without it: torchvision)."""
    _build_idefics3_like(path, image_only(transformers.SmolVLMProcessor),
                         transformers.SmolVLMImageProcessor,
                         transformers.SmolVLMForConditionalGeneration, transformers.SmolVLMConfig)


def build_internvl(path):
    """InternVL: <img> + context tokens + </img>, 64 px, 8 px patches, pixel shuffle 0.5."""
    fast = transformers.Qwen2TokenizerFast(
        tokenizer_object=_bpe(["<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>",
                               "</img>", "<IMG_CONTEXT>", "<video>"]),
        unk_token="<unk>", eos_token="<|im_end|>", pad_token="<|endoftext|>",
        extra_special_tokens={"start_image_token": "<img>", "end_image_token": "</img>",
                              "context_image_token": "<IMG_CONTEXT>", "video_token": "<video>"})
    processor = image_only(transformers.InternVLProcessor)(
        image_processor=transformers.GotOcr2ImageProcessor(
            size={"height": 64, "width": 64}, crop_to_patches=False),
        tokenizer=fast, image_seq_length=16,
        chat_template=QWEN_TEMPLATE.replace("<|vision_start|><|image_pad|><|vision_end|>", "<IMG_CONTEXT>\n"))
    config = transformers.InternVLConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=4, image_size=[64, 64], patch_size=[8, 8]),
        text_config=dict(model_type="qwen2", vocab_size=len(fast), pad_token_id=fast.pad_token_id,
                         **TINY_TEXT),
        image_token_id=fast.convert_tokens_to_ids("<IMG_CONTEXT>"), image_seq_length=16,
        downsample_ratio=0.5)
    torch.manual_seed(0)
    model = transformers.InternVLForConditionalGeneration(config)
    _save(model, fast, processor, path)


def build_aya_vision(path):
    """Aya Vision: SigLIP tower, pixel shuffle by 2, a Cohere 2 language model."""
    specials = ["<unk>", "<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>", "<PAD>", "<image>",
                "<|START_OF_IMG|>", "<|END_OF_IMG|>", "<|IMG_PATCH|>", "<|IMG_LINE_BREAK|>"]
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=_bpe(specials), unk_token="<unk>", bos_token="<BOS_TOKEN>",
        eos_token="<|END_OF_TURN_TOKEN|>", pad_token="<PAD>")
    processor = transformers.AyaVisionProcessor(
        image_processor=transformers.GotOcr2ImageProcessor(
            size={"height": 64, "width": 64}, crop_to_patches=False),
        tokenizer=fast, patch_size=8, img_size=64, downsample_factor=2,
        chat_template=_template("<image>", bos=True))
    config = transformers.AyaVisionConfig(
        vision_config=dict(model_type="siglip_vision_model", **{**TINY_VISION, "image_size": 64}),
        text_config=dict(model_type="cohere2", vocab_size=len(fast), pad_token_id=fast.pad_token_id,
                         bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                         head_dim=8, sliding_window=64, layer_types=["full_attention"] * 2,
                         tie_word_embeddings=False, **TINY_TEXT),
        image_token_index=fast.convert_tokens_to_ids("<|IMG_PATCH|>"), downsample_factor=2,
        tie_word_embeddings=False)
    torch.manual_seed(0)
    model = transformers.AyaVisionForConditionalGeneration(config)
    _save(model, fast, processor, path)


def build_instructblip(path):
    """InstructBLIP: BLIP-2 whose Q-Former also reads the question (its own BERT tokenizer)."""
    fast = transformers.GPT2TokenizerFast(
        tokenizer_object=_bpe(["<unk>", "<s>", "</s>", "<pad>"]), unk_token="<unk>",
        bos_token="</s>", eos_token="</s>", pad_token="<pad>")
    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wordpiece.train_from_iterator(curriculum.vocabulary_corpus(), trainers.WordPieceTrainer(
        vocab_size=300, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    qformer_tok = transformers.BertTokenizerFast(
        tokenizer_object=wordpiece, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]")
    processor = transformers.InstructBlipProcessor(
        image_processor=transformers.BlipImageProcessor(size={"height": 32, "width": 32}),
        tokenizer=fast, qformer_tokenizer=qformer_tok, num_query_tokens=16)
    tokenizer = processor.tokenizer
    config = transformers.InstructBlipConfig(  # its vision config's default initializer_range
        vision_config=dict(**TINY_VISION, initializer_range=0.02),  # is 1e-10: every image alike
        qformer_config=_qformer(vocab_size=len(qformer_tok), pad_token_id=qformer_tok.pad_token_id),
        **_blip_lm(tokenizer))
    torch.manual_seed(0)
    model = transformers.InstructBlipForConditionalGeneration(config)
    _give_values(model, "query_tokens")
    _save(model, tokenizer, processor, path)


FAMILIES = {"llava": build_llava, "llava_next": build_llava_next,
            "llava_onevision": build_llava_onevision, "qwen2_vl": build_qwen2_vl,
            "qwen2_5_vl": build_qwen2_5_vl, "qwen3_vl": build_qwen3_vl, "internvl": build_internvl,
            "paligemma": build_paligemma, "gemma3": build_gemma3, "mllama": build_mllama,
            "blip-2": build_blip2, "instructblip": build_instructblip, "idefics2": build_idefics2,
            "idefics3": build_idefics3, "smolvlm": build_smolvlm, "aya_vision": build_aya_vision}


if __name__ == "__main__":  # python tests/hf_families.py FAMILY DIR: build one, to try by hand
    import sys
    from pathlib import Path

    FAMILIES[sys.argv[1]](Path(sys.argv[2]))
