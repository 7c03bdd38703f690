"""Bring-your-own parts: a local Hugging Face CLIP or SigLIP vision tower as the encoder and a
local HF causal LM as the decoder, behind the interfaces of `vision.VisionEncoder` and
`lm.DecoderLM`, so connectors, the VLM, the trainer's align and instruct stages, the checkpoint
format and the native adapter work unchanged.

A checkpoint stays self-contained: config.json holds the HF configs (`VisionConfig.hf`,
`LMConfig.hf`) and model.safetensors every weight; the source directories are read only when a
model is assembled (`vision_config`, `lm_config`, `load_pretrained`, `lm_tokenizer`).

Following LLaVA, the encoder's features are its penultimate layer's patch states (the class
token dropped), and `<image>` (with `<pad>`, `<bos>` and `<eos>`, where the LM's tokenizer lacks
them) is added to the LM's vocabulary; stage 2 trains their embeddings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import transformers
from tokenizers import Tokenizer
from torch import nn

from vlmeval.errors import ConfigError
from vlmeval.vlm.config import LMConfig, VisionConfig
from vlmeval.vlm.tokenizer import SPECIALS

# model_type of the vision config -> transformers class, and its pixel normalisation when the
# directory has no preprocessor_config.json.
VISION_MODELS = {
    "clip_vision_model": ("CLIPVisionModel", [0.48145466, 0.4578275, 0.40821073],
                          [0.26862954, 0.26130258, 0.27577711]),
    "siglip_vision_model": ("SiglipVisionModel", [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),
}
FEATURE_LAYER = -2  # LLaVA's vision_feature_layer


def _config(data: dict[str, Any]) -> transformers.PretrainedConfig:
    fields = {k: v for k, v in data.items() if k != "model_type"}
    return transformers.AutoConfig.for_model(data["model_type"], **fields)


def _check_dir(path: Path, flag: str) -> None:
    if not (Path(path) / "config.json").is_file():
        raise ConfigError(f"{path}: no config.json; {flag} takes a local Hugging Face model "
                          f"directory (as written by save_pretrained)")


# --- vision ---------------------------------------------------------------------------------

class HFVisionEncoder(nn.Module):
    """Images (B, 3, H, W) in [0, 1] -> patch features (B, N, D) of an HF CLIP/SigLIP tower.
    Images of another size are resized to the tower's (bicubic), then normalised."""

    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        assert cfg.hf is not None
        self.cfg = cfg
        config = _config(cfg.hf["config"])
        self.model = getattr(transformers, VISION_MODELS[config.model_type][0])(config)
        self.register_buffer("mean", torch.tensor(cfg.hf["mean"]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg.hf["std"]).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        S = self.cfg.image_size
        if images.shape[-2:] != (S, S):
            images = F.interpolate(images, size=(S, S), mode="bicubic", align_corners=False).clamp(0, 1)
        out = self.model(pixel_values=(images - self.mean) / self.std, output_hidden_states=True)
        hidden = out.hidden_states[self.cfg.hf["feature_layer"]]  # (B, [1 +] N, D)
        return hidden[:, -self.cfg.n_patches:]  # CLIP puts a class token first: drop it


def vision_config(path: Path) -> VisionConfig:
    """The VisionConfig of a local CLIP/SigLIP directory (a vision tower or a full two-tower
    model, whose vision half is used)."""
    _check_dir(path, "--vision-encoder")
    config = transformers.AutoConfig.from_pretrained(path)
    config = getattr(config, "vision_config", config)
    if config.model_type not in VISION_MODELS:
        raise ConfigError(f"{Path(path) / 'config.json'}: model_type {config.model_type!r} is not "
                          f"a supported vision tower ({', '.join(VISION_MODELS)}); use a CLIP or "
                          f"SigLIP checkpoint")
    _, mean, std = VISION_MODELS[config.model_type]
    processor = Path(path) / "preprocessor_config.json"
    if processor.is_file():
        data = json.loads(processor.read_text())
        mean, std = data.get("image_mean", mean), data.get("image_std", std)
    hf = {"config": config.to_dict(), "mean": list(mean), "std": list(std),
          "feature_layer": FEATURE_LAYER, "source": str(path)}
    return VisionConfig(image_size=config.image_size, patch_size=config.patch_size,
                        dim=config.hidden_size, depth=config.num_hidden_layers,
                        heads=config.num_attention_heads, hf=hf)


# --- language model --------------------------------------------------------------------------

class HFDecoderLM(nn.Module):
    """An HF causal LM with DecoderLM's interface: embeddings in, hidden states and a KV cache
    out, `logits` through its output head. It takes a 2-D padding mask (HF builds the causal
    mask), so bidirectional image attention and cross_attn hooks are not available."""

    def __init__(self, cfg: LMConfig) -> None:
        super().__init__()
        assert cfg.hf is not None
        self.cfg = cfg
        self.model = transformers.AutoModelForCausalLM.from_config(_config(cfg.hf["config"]))
        self.model.resize_token_embeddings(cfg.vocab_size)

    @property
    def embed(self) -> nn.Module:
        return self.model.get_input_embeddings()

    def forward(self, x: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor | None = None,
                past: Any = None, between: Any = None) -> tuple[torch.Tensor, Any]:
        """x: (B, T, D) embeddings; positions: (B, T); mask: (B, S) padding mask or None."""
        assert between is None, "cross_attn needs the built-in LM"
        if int(positions.max()) >= self.cfg.max_len:
            raise ValueError(f"sequence position {int(positions.max())} exceeds the LM's "
                             f"max_position_embeddings {self.cfg.max_len}; shorten the prompt "
                             f"or the generation")
        out = self.model.base_model(inputs_embeds=x, attention_mask=mask, position_ids=positions,
                                    past_key_values=past, use_cache=True)
        return out.last_hidden_state, out.past_key_values

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.model.get_output_embeddings()(hidden)  # (B, T, V)

    @staticmethod
    def past_length(past: Any) -> int:
        return past.get_seq_length()

    @staticmethod
    def reserve(past: Any, capacity: int) -> Any:
        return past  # HF's cache grows by itself


def lm_tokenizer(path: Path) -> Tokenizer:
    """The LM's fast tokenizer with our special tokens added where missing (<unk> excepted)."""
    _check_dir(path, "--lm")
    try:
        hf = transformers.AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot load its tokenizer ({e}); the directory needs a "
                          f"tokenizer.json (save the tokenizer with save_pretrained)") from None
    if not hf.is_fast:
        raise ConfigError(f"{path}: the tokenizer is not a fast (tokenizers) one; save a "
                          f"tokenizer.json next to the model")
    tok = Tokenizer.from_str(hf.backend_tokenizer.to_str())
    tok.no_padding()
    tok.no_truncation()
    tok.add_special_tokens([s for s in SPECIALS if s != "<unk>" and tok.token_to_id(s) is None])
    return tok


def lm_config(path: Path, tokenizer: Tokenizer) -> LMConfig:
    """The LMConfig of a local HF causal LM, its vocabulary grown to hold the tokenizer's."""
    _check_dir(path, "--lm")
    config = transformers.AutoConfig.from_pretrained(path)
    if config.model_type not in transformers.models.auto.modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise ConfigError(f"{Path(path) / 'config.json'}: model_type {config.model_type!r} is not "
                          f"a causal LM transformers knows; use a decoder-only LM checkpoint")
    vocab = max(config.vocab_size, tokenizer.get_vocab_size())
    text = config.get_text_config()
    return LMConfig(vocab_size=vocab, dim=text.hidden_size, depth=text.num_hidden_layers,
                    heads=text.num_attention_heads, max_len=text.max_position_embeddings,
                    mlp_ratio=1, hf={"config": config.to_dict(), "source": str(path)})


def load_pretrained(module: nn.Module, path: Path) -> None:
    """Copy the weights of the HF directory `path` into an HFVisionEncoder or HFDecoderLM."""
    if isinstance(module, HFVisionEncoder):
        cls = getattr(transformers, VISION_MODELS[module.model.config.model_type][0])
        source = cls.from_pretrained(path)
        module.model.load_state_dict(source.state_dict())
    else:
        source = transformers.AutoModelForCausalLM.from_pretrained(path)
        source.resize_token_embeddings(module.cfg.vocab_size)
        module.model.load_state_dict(source.state_dict())
