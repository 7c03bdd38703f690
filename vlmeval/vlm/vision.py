"""ViT encoder: patch embedding -> position embedding -> blocks -> patch features.

The patch embedding is either the classic one linear map per patch ("patch") or a small
convolutional stem with the same output grid ("conv", as in Xiao et al. 2021, "Early
convolutions help transformers see better"): three stride-2 convolutions, so each patch token
also sees its neighbours' pixels. At 64 px with 11 px objects, that is what lets a small ViT
tell shapes apart.
"""

from __future__ import annotations

import torch
from torch import nn

from vlmeval.vlm.config import VisionConfig
from vlmeval.vlm.layers import Block


class VisionEncoder(nn.Module):
    """Images (B, 3, S, S) in [0, 1] -> patch features (B, N, Dv), N = (S / patch)^2."""

    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        if cfg.stem == "conv":
            half = cfg.dim // 2
            self.patch = nn.Sequential(
                nn.Conv2d(3, half, 3, stride=2, padding=1), nn.GELU(),  # (B, D/2, S/2, S/2)
                nn.Conv2d(half, half, 3, stride=2, padding=1), nn.GELU(),  # (B, D/2, S/4, S/4)
                nn.Conv2d(half, cfg.dim, 3, stride=2, padding=1))  # (B, D, S/8, S/8)
        else:
            self.patch = nn.Conv2d(3, cfg.dim, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        self.pos = nn.Parameter(torch.zeros(1, cfg.n_patches, cfg.dim))
        nn.init.normal_(self.pos, std=0.02)
        self.blocks = nn.ModuleList(Block(cfg.dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.ln = nn.LayerNorm(cfg.dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.encode(self.embed(images))

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, S, S) -> patch tokens with their positions (B, N, Dv)."""
        x = self.patch(images * 2.0 - 1.0)  # (B, Dv, G, G)
        return x.flatten(2).transpose(1, 2) + self.pos

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Patch tokens (B, N, Dv) -> patch features: the blocks and the final norm."""
        B = x.shape[0]
        for block in self.blocks:
            x, _ = block(x)
        assert x.shape == (B, self.cfg.n_patches, self.cfg.dim)
        return self.ln(x)
