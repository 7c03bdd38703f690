"""resampler: learnable queries cross-attend to the patch features (Perceiver/Q-Former style).

The keys carry a fixed 2D sine-cosine code of each patch's row and column, so a query can learn
to look at a place (without it, held-out spatial answers stayed at chance: pooled features say
what is in a patch more than where the patch is)."""

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
        context = context + sincos_2d(context.shape[1], context.shape[2]).to(context)
        q = self.queries.expand(B, -1, -1)  # (B, Q, D)
        x = q + self.attn(self.ln_q(q), context=context)[0]
        return x + self.mlp(self.ln_mlp(x))  # (B, Q, D)


def sincos_2d(n: int, dim: int) -> torch.Tensor:
    """(n, dim) fixed position code of a square grid of n cells in row-major order: sines and
    cosines of the row in the first half of the channels, of the column in the second (MAE's
    2D sin-cos embedding); channels beyond a multiple of 4 are 0."""
    side = int(round(n ** 0.5))
    assert side * side == n, n  # the patch grid is square
    quarter = dim // 4
    freqs = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float32) / max(1, quarter))  # (dim/4,)
    rows, cols = torch.meshgrid(torch.arange(side, dtype=torch.float32),
                                torch.arange(side, dtype=torch.float32), indexing="ij")
    parts = []
    for coord in (rows.flatten(), cols.flatten()):
        angles = coord[:, None] * freqs[None]  # (n, dim/4)
        parts += [angles.sin(), angles.cos()]
    parts.append(torch.zeros(n, dim - 4 * quarter))
    return torch.cat(parts, dim=1)  # (n, dim)

