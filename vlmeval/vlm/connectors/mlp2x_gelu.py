"""mlp2x_gelu: the LLaVA-1.5 projector, two linear layers with a GELU between."""

from __future__ import annotations

import torch
from torch import nn

from vlmeval.vlm.connectors.base import CONNECTORS, Connector


@CONNECTORS.register("mlp2x_gelu")
class MLP2xGeluConnector(Connector):
    """Each pooled patch feature -> one image token by Linear -> GELU -> Linear."""

    def __init__(self, cfg, vision_dim: int, lm_dim: int, lm_depth: int) -> None:
        super().__init__(cfg, vision_dim, lm_dim, lm_depth)
        self.mlp = nn.Sequential(nn.Linear(vision_dim, lm_dim), nn.GELU(), nn.Linear(lm_dim, lm_dim))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.pool(patches))  # (B, N / pool^2, D)
