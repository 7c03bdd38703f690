"""linear: one projection per (pooled) patch, LLaVA-1.0 style."""

from __future__ import annotations

import torch
from torch import nn

from vlmeval.vlm.connectors.base import CONNECTORS, Connector


@CONNECTORS.register("linear")
class LinearConnector(Connector):
    """Each pooled patch feature -> one image token by a single linear map."""

    def __init__(self, cfg, vision_dim: int, lm_dim: int, lm_depth: int) -> None:
        super().__init__(cfg, vision_dim, lm_dim, lm_depth)
        self.proj = nn.Linear(vision_dim, lm_dim)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.proj(self.pool(patches))  # (B, N / pool^2, D)
