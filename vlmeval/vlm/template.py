"""The prompt template our VLM is trained and evaluated with (one place, so they agree):

    <bos> {question} <image> x image_tokens answer :  {answer} <eos>

The question comes first so that, under causal attention, image tokens can attend to it
(each can check itself against what is asked) as well as the answer position to them.
Loss is taken on the answer and <eos> only. Text-only prompts simply
have no <image> tokens.
"""

from __future__ import annotations

import torch
from tokenizers import Tokenizer

from vlmeval.vlm.tokenizer import BOS, EOS, IMAGE, PAD

ANSWER_CUE = "answer:"


def prompt_ids(tokenizer: Tokenizer, question: str, image_tokens: int) -> list[int]:
    question_ids = tokenizer.encode(question, add_special_tokens=False).ids
    cue = tokenizer.encode(ANSWER_CUE, add_special_tokens=False).ids
    return [BOS] + question_ids + [IMAGE] * image_tokens + cue


def answer_ids(tokenizer: Tokenizer, answer: str) -> list[int]:
    return tokenizer.encode(answer, add_special_tokens=False).ids + [EOS]


def decode(tokenizer: Tokenizer, ids: list[int]) -> str:
    """Generated ids up to (not including) <eos> -> text."""
    if EOS in ids:
        ids = ids[: ids.index(EOS)]
    return tokenizer.decode(ids, skip_special_tokens=True)


def left_pad(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded ids (B, T) and attention mask (B, T): every row's next token is predicted at
    the last position, which is what batched decoding and scoring need."""
    T = max(map(len, rows))
    ids = torch.full((len(rows), T), PAD, dtype=torch.long)
    mask = torch.zeros(len(rows), T, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, T - len(row):] = torch.tensor(row)
        mask[i, T - len(row):] = 1
    return ids, mask
