"""The training loop and batching shared by every stage of the trainer."""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from vlmeval.vlm.tokenizer import PAD


def pad_batch(rows: list[list[int]], targets: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded input ids (B, T) and labels (B, T) with -100 where no loss is taken.
    Right padding needs no attention mask under a causal LM: pads only follow real tokens."""
    T = max(len(r) + len(t) for r, t in zip(rows, targets)) - 1
    ids = torch.full((len(rows), T), PAD, dtype=torch.long)
    labels = torch.full((len(rows), T), -100, dtype=torch.long)
    for i, (prompt, answer) in enumerate(zip(rows, targets)):
        seq = prompt + answer
        ids[i, : len(seq) - 1] = torch.tensor(seq[:-1])
        labels[i, len(prompt) - 1: len(seq) - 1] = torch.tensor(answer)
    return ids, labels


def answer_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy averaged over each row's answer tokens, then over rows: a one-word answer
    weighs as much as a caption (a token mean would let long captions dominate)."""
    per_token = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none")
    per_token = per_token.view(labels.shape)  # (B, T), 0 where labels are -100
    return (per_token.sum(1) / (labels != -100).sum(1).clamp(min=1)).mean()


def run_loop(name: str, steps: int, params: list[nn.Parameter], lr: float,
             loss_fn: Callable[[int], torch.Tensor], log: list) -> None:
    """AdamW, linear warmup then cosine decay, gradient clipping; logs mean loss every 50 steps."""
    if steps == 0:
        return
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    warmup = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * s / steps)))
    window: list[float] = []
    bar = tqdm(range(steps), desc=name, unit="step", dynamic_ncols=True, mininterval=1.0)
    for step in bar:
        loss = loss_fn(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        window.append(loss.item())
        if (step + 1) % 50 == 0 or step + 1 == steps:
            mean = sum(window) / len(window)
            log.append([step + 1, round(mean, 5)])
            bar.set_postfix(loss=f"{mean:.4f}")
            window = []


def trainable(*modules: nn.Module) -> list[nn.Parameter]:
    return [p for m in modules for p in m.parameters() if p.requires_grad]
