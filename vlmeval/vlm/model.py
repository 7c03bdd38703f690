"""The VLM: vision encoder -> connector -> decoder LM.

Images are encoded separately (`image_features`) so an adapter can cache features per image.
For prefix connectors the prompt holds `image_tokens` placeholder ids per image, and the
features replace them in one vectorised step after checking that the counts match; for
cross_attn the features are a memory attended from gated layers between LM blocks.
"""

from __future__ import annotations

import torch
from torch import nn

from vlmeval.vlm.config import VLMConfig
from vlmeval.vlm.connectors import CONNECTORS
from vlmeval.vlm.layers import KV
from vlmeval.vlm.lm import DecoderLM
from vlmeval.vlm.vision import VisionEncoder


class VLM(nn.Module):
    def __init__(self, cfg: VLMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        if cfg.vision.hf is not None or cfg.lm.hf is not None:
            from vlmeval.vlm import hf_parts  # transformers loads only when a model needs it
        self.vision = (hf_parts.HFVisionEncoder(cfg.vision) if cfg.vision.hf is not None
                       else VisionEncoder(cfg.vision))
        self.connector = CONNECTORS.get(cfg.connector.name)(
            cfg.connector, cfg.vision.dim, cfg.lm.dim, cfg.lm.depth)
        self.lm = hf_parts.HFDecoderLM(cfg.lm) if cfg.lm.hf is not None else DecoderLM(cfg.lm)

    @property
    def image_tokens(self) -> int:
        """Placeholder tokens per image in the sequence (0 for cross_attn)."""
        return self.connector.num_tokens(self.cfg.vision.n_patches)

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """(B_img, 3, S, S) in [0, 1] -> connector output (B_img, T_img or M, D)."""
        return self.connector(self.vision(images))

    def forward(
        self,
        input_ids: torch.Tensor,
        features: torch.Tensor | None = None,
        image_rows: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        past: list[KV] | None = None,
    ) -> tuple[torch.Tensor, list[KV]]:
        """Logits (B, T, V) for input_ids (B, T) and the KV cache.

        features: image features of the rows flagged in image_rows (B,) bool, in row order;
        needed at prefill for prefix connectors and at every step for cross_attn.
        attention_mask: (B, S) 1 for real tokens, 0 for (left) padding, over past + current.
        """
        B, T = input_ids.shape
        past_len = self.lm.past_length(past) if past else 0
        if image_rows is None:
            image_rows = torch.zeros(B, dtype=torch.bool, device=input_ids.device)
        x = self.lm.embed(input_ids)  # (B, T, D)
        is_image = input_ids == self.cfg.image_token_id  # (B, T)
        between = None
        if self.connector.kind == "prefix":
            x = self._splice(x, is_image, features, image_rows, prefill=past is None)
        else:
            if is_image.any():
                raise ValueError("cross_attn models take no image placeholder tokens; remove "
                                 f"token id {self.cfg.image_token_id} from the prompt")
            memory, rows = self._memory(features, image_rows, B, x)
            between = lambda i, h: self.connector.after_block(i, h, memory, rows)  # noqa: E731
        if self.cfg.lm.hf is not None:  # an HF LM builds its causal mask from the padding mask
            mask = attention_mask
        else:
            mask = self._mask(T, past_len, attention_mask, is_image, x.device)
        if attention_mask is not None:
            positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, past_len:]
        else:
            positions = torch.arange(past_len, past_len + T, device=x.device).expand(B, T)
        hidden, cache = self.lm(x, positions, mask=mask, past=past, between=between)
        return self.lm.logits(hidden), cache

    def _splice(self, x: torch.Tensor, is_image: torch.Tensor, features: torch.Tensor | None,
                image_rows: torch.Tensor, prefill: bool) -> torch.Tensor:
        # Decode steps (after prefill) carry no image placeholders.
        expected = image_rows.long() * (self.image_tokens if prefill else 0)
        counts = is_image.sum(dim=1)
        if not torch.equal(counts, expected):
            row = int((counts != expected).nonzero()[0])
            raise ValueError(
                f"row {row} has {int(counts[row])} image tokens but {int(expected[row])} image "
                f"features are expected ({self.image_tokens} per image, connector "
                f"{self.cfg.connector.name!r}); build prompts with model.image_tokens placeholders")
        if not bool(image_rows.any()) or not prefill:
            return x
        if features is None or features.shape[0] != int(image_rows.sum()):
            got = None if features is None else tuple(features.shape)
            raise ValueError(f"{int(image_rows.sum())} rows have images but features are {got}")
        # One vectorised step: features fill the placeholder positions in row-major order.
        return x.masked_scatter(is_image.unsqueeze(-1), features.to(x.dtype))

    def _memory(self, features: torch.Tensor | None, image_rows: torch.Tensor, B: int,
                x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        M = self.connector.memory_size(self.cfg.vision.n_patches)
        memory = x.new_zeros(B, M, x.shape[-1])  # rows without an image attend to zeros, gated off
        if bool(image_rows.any()):
            if features is None or features.shape[0] != int(image_rows.sum()):
                raise ValueError(f"{int(image_rows.sum())} rows have images but no matching features")
            memory[image_rows] = features.to(x.dtype)
        return self.connector.placed(memory, self.lm), image_rows.to(x.dtype)[:, None, None]

    def _mask(self, T: int, past_len: int, attention_mask: torch.Tensor | None,
              is_image: torch.Tensor, device: torch.device) -> torch.Tensor | None:
        bidirectional = (self.cfg.connector.image_attention == "bidirectional"
                         and past_len == 0 and bool(is_image.any()))
        if attention_mask is None and not bidirectional:
            return None  # plain causal: the fast path
        S = past_len + T
        allowed = torch.ones(T, S, dtype=torch.bool, device=device).tril(diagonal=past_len)
        allowed = allowed[None, None]  # (1, 1, T, S)
        if attention_mask is not None:
            allowed = allowed & attention_mask.bool()[:, None, None, :S]
        if bidirectional:
            allowed = allowed | (is_image[:, None, :, None] & is_image[:, None, None, :])
        # Every query may see itself, so padding rows never attend to nothing (NaN).
        eye = torch.eye(T, S, dtype=torch.bool, device=device).roll(past_len, dims=1)
        return allowed | eye[None, None]

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
