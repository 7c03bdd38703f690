"""resampler: learnable queries cross-attend to the patch features (Perceiver/Q-Former style)."""

from __future__ import annotations

import torch
from torch import nn

from vlmeval.vlm.connectors.base import CONNECTORS, Connector
from vlmeval.vlm.layers import MLP, Attention


@CONNECTORS.register("resampler")
class ResamplerConnector(Connector):
    """A fixed number of image tokens (cfg.queries) whatever the patch count: each learnable
    query attends to all (pooled) patch features, then an MLP."""

    def __init__(self, cfg, vision_dim: int, lm_dim: int, lm_depth: int) -> None:
        super().__init__(cfg, vision_dim, lm_dim, lm_depth)
        heads = 4 if lm_dim % 4 == 0 else 1
        self.queries = nn.Parameter(torch.randn(1, cfg.queries, lm_dim) * 0.02)
        self.kv_proj = nn.Linear(vision_dim, lm_dim)
        self.ln_q = nn.LayerNorm(lm_dim)
        self.ln_kv = nn.LayerNorm(lm_dim)
        self.attn = Attention(lm_dim, heads)
        self.ln_mlp = nn.LayerNorm(lm_dim)
        self.mlp = MLP(lm_dim, 4)

    def num_tokens(self, n_patches: int) -> int:
        return self.cfg.queries

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        B = patches.shape[0]
        context = self.ln_kv(self.kv_proj(self.pool(patches)))  # (B, M, D)
        q = self.queries.expand(B, -1, -1)  # (B, Q, D)
        x = q + self.attn(self.ln_q(q), context=context)[0]
        return x + self.mlp(self.ln_mlp(x))  # (B, Q, D)
