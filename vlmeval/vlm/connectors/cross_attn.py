"""cross_attn: Flamingo-style gated cross-attention layers between LM blocks.

No image tokens enter the sequence. After every `every` LM blocks, a layer lets text attend to
the image memory; its contributions are scaled by tanh(gate) with gates initialised at 0, so an
untrained connector leaves the LM's output exactly unchanged. The layers' MLPs are 2x wide
(Flamingo uses 4x): two such layers on a 128-wide LM cost 270k parameters, which keeps the
checkpoint under the zoo's 5 MB.
"""

from __future__ import annotations

import torch
from torch import nn

from vlmeval.vlm.connectors.base import CONNECTORS, Connector
from vlmeval.vlm.layers import MLP, Attention


class GatedCrossAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.ln_attn = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.attn_gate = nn.Parameter(torch.zeros(1))
        self.ln_mlp = nn.LayerNorm(dim)
        self.mlp = MLP(dim, 2)
        self.mlp_gate = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, memory: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """x: (B, T, D) text states; memory: (B, M, D); rows: (B, 1, 1), 1.0 where an image is."""
        x = x + rows * torch.tanh(self.attn_gate) * self.attn(self.ln_attn(x), context=memory)[0]
        return x + rows * torch.tanh(self.mlp_gate) * self.mlp(self.ln_mlp(x))


@CONNECTORS.register("cross_attn")
class CrossAttnConnector(Connector):
    """Projects pooled patches to an image memory and owns the gated layers the LM runs after
    every cfg.every blocks (lm_depth / every layers)."""

    kind = "cross_attn"

    def __init__(self, cfg, vision_dim: int, lm_dim: int, lm_depth: int) -> None:
        super().__init__(cfg, vision_dim, lm_dim, lm_depth)
        heads = 4 if lm_dim % 4 == 0 else 1
        self.proj = nn.Linear(vision_dim, lm_dim)
        self.layers = nn.ModuleList(GatedCrossAttention(lm_dim, heads)
                                    for _ in range(lm_depth // cfg.every))

    def num_tokens(self, n_patches: int) -> int:
        return 0

    def memory_size(self, n_patches: int) -> int:
        return super().num_tokens(n_patches)  # pooled patches, as prefix connectors count them

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.proj(self.pool(patches))  # (B, M, D): the memory, not sequence tokens

    @staticmethod
    def placed(memory: torch.Tensor, lm: nn.Module) -> torch.Tensor:
        """Memory slots (B, M, D) plus the LM's position code of positions 1..M, the places a
        prefix prompt's image slot holds: content alone lets a gated layer find a named object
        but not say where it is (spatial questions stayed at chance without this)."""
        M = memory.shape[1]
        return memory + lm.pos(torch.arange(1, M + 1, device=memory.device))

    def after_block(self, i: int, x: torch.Tensor, memory: torch.Tensor, rows: torch.Tensor,
                    ) -> torch.Tensor:
        if (i + 1) % self.cfg.every:
            return x
        return self.layers[(i + 1) // self.cfg.every - 1](x, memory, rows)
