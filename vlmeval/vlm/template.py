"""The prompt template our VLM is trained and evaluated with (one place, so they agree):

    <bos> <image> x image_tokens {question} answer : {answer} <eos>

The image comes first, as in LLaVA: its tokens then sit at the same positions in every
prompt, so the position embeddings tell the LM where in the image a token is (what spatial
questions need), and the question's words can look back at them. Loss is taken on the answer
and <eos> only. Text-only prompts have no image tokens; in LM pretraining the image slot may
hold words instead (`image_words`: the scene as a grid of words, see curriculum.word_grid).

Special tokens are looked up by name: our tokenizer has them at fixed ids (tokenizer.SPECIALS),
a Hugging Face LM's tokenizer gets them added (hf_parts.lm_tokenizer).
"""

from __future__ import annotations

import torch
from tokenizers import Tokenizer

from vlmeval.vlm.tokenizer import PAD

ANSWER_CUE = "answer:"


def special(tokenizer: Tokenizer, name: str) -> int:
    """The id of a special token ("<bos>", "<eos>", "<image>", "<pad>")."""
    token_id = tokenizer.token_to_id(name)
    assert token_id is not None, f"tokenizer lacks {name}"  # added when the model was built
    return token_id


def prompt_ids(tokenizer: Tokenizer, question: str, image_tokens: int,
               image_words: list[str] | None = None) -> list[int]:
    """image_words, when given, fill the image slot with those words' ids instead of
    image_tokens placeholders."""
    image = ([tokenizer.token_to_id(w) for w in image_words] if image_words is not None
             else [special(tokenizer, "<image>")] * image_tokens)
    question_ids = tokenizer.encode(question, add_special_tokens=False).ids
    cue = tokenizer.encode(ANSWER_CUE, add_special_tokens=False).ids
    return [special(tokenizer, "<bos>")] + image + question_ids + cue


def answer_ids(tokenizer: Tokenizer, answer: str) -> list[int]:
    return tokenizer.encode(answer, add_special_tokens=False).ids + [special(tokenizer, "<eos>")]


def decode(tokenizer: Tokenizer, ids: list[int]) -> str:
    """Generated ids up to (not including) <eos> -> text."""
    eos = special(tokenizer, "<eos>")
    if eos in ids:
        ids = ids[: ids.index(eos)]
    return tokenizer.decode(ids, skip_special_tokens=True)


def left_pad(rows: list[list[int]], pad: int = PAD) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded ids (B, T) and attention mask (B, T): every row's next token is predicted at
    the last position, which is what batched decoding and scoring need. pad: the filler id (the
    HF adapter passes its tokenizer's)."""
    T = max(map(len, rows))
    ids = torch.full((len(rows), T), pad, dtype=torch.long)
    mask = torch.zeros(len(rows), T, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, T - len(row):] = torch.tensor(row)
        mask[i, T - len(row):] = 1
    return ids, mask
