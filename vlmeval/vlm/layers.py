"""Transformer pieces shared by the vision encoder, the LM and the connectors."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

KV = tuple[torch.Tensor, torch.Tensor]


class Attention(nn.Module):
    """Multi-head attention; self-attention when `context` is None, else cross-attention.

    mask: boolean (B, 1, T, S), True where attention is allowed; None with causal=True means a
    plain causal mask. past: cached (k, v) of earlier positions, each (B, H, S_past, Dh).
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                mask: torch.Tensor | None = None, causal: bool = False,
                past: KV | None = None) -> tuple[torch.Tensor, KV]:
        B, T, D = x.shape
        H = self.heads
        source = x if context is None else context
        q = self.q(x).view(B, T, H, D // H).transpose(1, 2)  # (B, H, T, Dh)
        k, v = self.kv(source).view(B, source.shape[1], 2, H, D // H).permute(2, 0, 3, 1, 4)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)  # (B, H, S_past + T, Dh)
            v = torch.cat([past[1], v], dim=2)
        use_causal = causal and mask is None and past is None
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=use_causal)
        y = y.transpose(1, 2).reshape(B, T, D)  # (B, T, D)
        return self.out(y), (k, v)


class MLP(nn.Module):
    def __init__(self, dim: int, ratio: int) -> None:
        super().__init__()
        self.up = nn.Linear(dim, ratio * dim)
        self.down = nn.Linear(ratio * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.gelu(self.up(x)))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, mlp_ratio)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, causal: bool = False,
                past: KV | None = None) -> tuple[torch.Tensor, KV]:
        a, kv = self.attn(self.ln1(x), mask=mask, causal=causal, past=past)
        x = x + a
        return x + self.mlp(self.ln2(x)), kv
