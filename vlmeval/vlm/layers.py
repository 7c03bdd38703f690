"""Transformer pieces shared by the vision encoder, the LM and the connectors."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

KV = tuple[torch.Tensor, torch.Tensor]


class KVBuffer:
    """One attention layer's cached keys and values in buffers with room for `capacity`
    positions, each (B, H, capacity, Dh). A decode step writes its keys and values in place;
    concatenating instead copies the whole cache at every step (27% of a decode step's time on
    the zoo models). Attention reads the filled part, a view: the same values as a cat."""

    def __init__(self, kv: KV, capacity: int) -> None:
        k, v = kv
        B, H, S, Dh = k.shape
        self.k, self.v = k.new_empty(B, H, capacity, Dh), v.new_empty(B, H, capacity, Dh)
        self.k[:, :, :S], self.v[:, :, :S] = k, v
        self.length = S

    def extend(self, k: torch.Tensor, v: torch.Tensor) -> KV:
        end = self.length + k.shape[2]
        if end > self.k.shape[2]:
            raise ValueError(f"KV buffer holds {self.k.shape[2]} positions; {end} needed")
        self.k[:, :, self.length:end], self.v[:, :, self.length:end] = k, v
        self.length = end
        return self.k[:, :, :end], self.v[:, :, :end]


class Attention(nn.Module):
    """Multi-head attention; self-attention when `context` is None, else cross-attention.

    mask: boolean (B, 1, T, S), True where attention is allowed; None with causal=True means a
    plain causal mask. past: cached (k, v) of earlier positions, each (B, H, S_past, Dh), or a
    KVBuffer, which this call extends in place (and returns as the cache).
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                mask: torch.Tensor | None = None, causal: bool = False,
                past: KV | KVBuffer | None = None) -> tuple[torch.Tensor, KV | KVBuffer]:
        B, T, D = x.shape
        H = self.heads
        source = x if context is None else context
        q = self.q(x).view(B, T, H, D // H).transpose(1, 2)  # (B, H, T, Dh)
        k, v = self.kv(source).view(B, source.shape[1], 2, H, D // H).permute(2, 0, 3, 1, 4)
        use_causal = causal and mask is None and past is None
        if isinstance(past, KVBuffer):
            k, v = past.extend(k, v)  # (B, H, S_past + T, Dh)
        elif past is not None:
            k = torch.cat([past[0], k], dim=2)  # (B, H, S_past + T, Dh)
            v = torch.cat([past[1], v], dim=2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=use_causal)
        y = y.transpose(1, 2).reshape(B, T, D)  # (B, T, D)
        return self.out(y), past if isinstance(past, KVBuffer) else (k, v)


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
                past: KV | KVBuffer | None = None) -> tuple[torch.Tensor, KV | KVBuffer]:
        a, kv = self.attn(self.ln1(x), mask=mask, causal=causal, past=past)
        x = x + a
        return x + self.mlp(self.ln2(x)), kv
