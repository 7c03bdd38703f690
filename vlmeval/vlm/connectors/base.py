"""What a connector is: patch features (B, N, Dv) -> what the LM consumes.

kind "prefix": image tokens (B, T_img, D) spliced into the text sequence at placeholder tokens.
kind "cross_attn": memory (B, M, D) attended from gated layers between LM blocks; no image
tokens in the sequence (num_tokens is 0).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from vlmeval.registry import Registry
from vlmeval.vlm.config import ConnectorConfig


class Connector(nn.Module):
    kind: ClassVar[Literal["prefix", "cross_attn"]] = "prefix"

    def __init__(self, cfg: ConnectorConfig, vision_dim: int, lm_dim: int, lm_depth: int) -> None:
        super().__init__()
        self.cfg = cfg

    def num_tokens(self, n_patches: int) -> int:
        """Image tokens this connector puts into the LM sequence for one image."""
        return n_patches // (self.cfg.pool * self.cfg.pool)

    def pool(self, patches: torch.Tensor) -> torch.Tensor:
        """Average-pool the square patch grid by cfg.pool: (B, N, D) -> (B, N / pool^2, D)."""
        p = self.cfg.pool
        if p == 1:
            return patches
        B, N, D = patches.shape
        G = int(round(N ** 0.5))
        grid = patches.transpose(1, 2).reshape(B, D, G, G)  # (B, D, G, G)
        return F.avg_pool2d(grid, p).flatten(2).transpose(1, 2)  # (B, N / p^2, D)


CONNECTORS: Registry[type[Connector]] = Registry("connector")
