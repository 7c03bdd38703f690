"""Decoder LM: token + position embeddings -> causal blocks -> tied output head.

The LM takes embeddings (so a connector can splice image features in) and returns hidden
states; `between` runs after chosen blocks (cross_attn connectors hook in there).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from vlmeval.vlm.config import LMConfig
from vlmeval.vlm.layers import KV, Block, KVBuffer

Between = Callable[[int, torch.Tensor], torch.Tensor]


class DecoderLM(nn.Module):
    def __init__(self, cfg: LMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.pos = nn.Embedding(cfg.max_len, cfg.dim)
        self.blocks = nn.ModuleList(Block(cfg.dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.ln = nn.LayerNorm(cfg.dim)
        # PyTorch's default initialisation (embeddings N(0, 1), linear layers uniform in
        # +-1/sqrt(fan_in)), not GPT-2's N(0, 0.02): at this size the small init left attention
        # nearly uniform and matching a question word against the image tokens sat on a plateau
        # for 1,000+ steps; with the defaults it is learned in a few hundred (docs/training.md).

    def forward(self, x: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor | None = None,
                past: list[KV] | None = None, between: Between | None = None,
                ) -> tuple[torch.Tensor, list[KV]]:
        """x: (B, T, D) embeddings; positions: (B, T). Returns hidden (B, T, D) and the cache."""
        if int(positions.max()) >= self.cfg.max_len:
            raise ValueError(f"sequence position {int(positions.max())} exceeds lm.max_len "
                             f"{self.cfg.max_len}; shorten the prompt or the generation")
        x = x + self.pos(positions)
        cache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, mask=mask, causal=True, past=past[i] if past else None)
            cache.append(kv)
            if between is not None:
                x = between(i, x)
        return self.ln(x), cache

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden @ self.embed.weight.T  # tied head: (B, T, V)

    @staticmethod
    def past_length(past: list[KV] | list[KVBuffer]) -> int:
        first = past[0]
        return first.length if isinstance(first, KVBuffer) else first[0].shape[2]  # (B, H, S, Dh)

    @staticmethod
    def reserve(past: list[KV], capacity: int) -> list[KVBuffer]:
        """The cache in buffers with room for `capacity` positions, for decoding in place."""
        return [KVBuffer(kv, capacity) for kv in past]
