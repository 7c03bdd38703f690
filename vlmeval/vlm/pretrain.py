"""Stages 1-2 of the recipe: the vision encoder and the LM, before they meet.

Encoder objectives (Recipe.encoder_objective):
- "clip": CLIP-style symmetric InfoNCE between image and caption embeddings (a small causal
  text tower, pooled at <eos>). It trains (600 steps at batch 256 reach loss 0.45), but
  matching whole captions within a batch can be done from colours and layout alone, and
  nothing forces the fine shape distinctions POPE asks about.
- "dense" (the default, the documented alternative): supervised dense prediction, as detector-
  or segmentation-pretrained backbones are. Each patch predicts the category, colour and size
  of the object whose box covers the patch centre (or background), and the category of the
  object whose centre lies in the patch (CenterNet-style; it tells an object's one cell from
  the others it covers, which counting needs), from train-split ground truth. Every object
  covers at least one patch centre (objects are >= 11 px, patches 8 px). Labels come from the
  train split only; nothing about the eval split or its questions.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vlmeval.data import prompts, scenes
from vlmeval.vlm import curriculum, template
from vlmeval.vlm.config import LMConfig
from vlmeval.vlm.connectors import Connector
from vlmeval.vlm.lm import DecoderLM
from vlmeval.vlm.loop import answer_loss, pad_batch, run_loop
from vlmeval.vlm.tokenizer import PAD
from vlmeval.vlm.vision import VisionEncoder

if TYPE_CHECKING:
    from vlmeval.vlm.train import Recipe

ENCODER_OBJECTIVES = ("dense", "clip")
LM_MIX = {"caption": 1, "grid": 3, "text": 1}  # LM pretraining examples (weights)


def to_float(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 255.0


# --- encoder: dense supervision -------------------------------------------------------------

DENSE_HEADS = (len(scenes.CATEGORIES) + 1, len(scenes.COLOURS) + 1, len(scenes.SIZES) + 1,
               len(scenes.CATEGORIES) + 1)  # classes per label of patch_labels (0 = none)


def patch_labels(n: int, patch: int, image_size: int) -> torch.Tensor:
    """(n, N, 4) long for train scenes [0, n): category, colour and size index of the object
    covering each patch centre, and the category of the object centred in the patch (0: none)."""
    grid = image_size // patch
    centres = np.arange(grid) * patch + (patch - 1) / 2.0
    colours, sizes = list(scenes.COLOURS), list(scenes.SIZES)
    out = np.zeros((n, grid, grid, len(DENSE_HEADS)), dtype=np.int64)
    for i in range(n):
        for o in scenes.scene("train", i).objects:
            x0, y0, x1, y1 = o.bbox
            cols = (centres >= x0) & (centres <= x1)
            rows = (centres >= y0) & (centres <= y1)
            category = scenes.CATEGORIES.index(o.category) + 1
            out[i, np.outer(rows, cols), :3] = (category, colours.index(o.colour) + 1,
                                                sizes.index(o.size) + 1)
            x, y = o.centre
            out[i, int(y) // patch, int(x) // patch, 3] = category
    return torch.from_numpy(out.reshape(n, grid * grid, len(DENSE_HEADS)))


def train_encoder_dense(recipe: "Recipe", vision: VisionEncoder, pool: torch.Tensor,
                        log: list) -> None:
    torch.manual_seed(recipe.seed * 10 + 1)
    labels = patch_labels(len(pool), vision.cfg.patch_size, vision.cfg.image_size)
    heads = nn.ModuleList(nn.Linear(recipe.vision_dim, k) for k in DENSE_HEADS)
    gen = torch.Generator().manual_seed(recipe.seed * 10 + 2)

    def loss_fn(step: int) -> torch.Tensor:
        idx = torch.randperm(len(pool), generator=gen)[: recipe.encoder_batch]
        features = vision(to_float(pool[idx]))  # (B, N, Dv)
        return sum(F.cross_entropy(head(features).flatten(0, 1), labels[idx, :, k].flatten())
                   for k, head in enumerate(heads))

    run_loop("encoder", recipe.encoder_steps, [*vision.parameters(), *heads.parameters()],
          recipe.encoder_lr, loss_fn, log)


# --- encoder: CLIP-style ---------------------------------------------------------------------

class TextTower(nn.Module):
    """CLIP's text side: a small causal transformer, the state at <eos> projected."""

    def __init__(self, vocab_size: int, dim: int, out: int) -> None:
        super().__init__()
        self.lm = DecoderLM(LMConfig(vocab_size=vocab_size, dim=dim, depth=2, heads=4, max_len=96))
        self.proj = nn.Linear(dim, out)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        B, T = ids.shape
        hidden, _ = self.lm(self.lm.embed(ids), torch.arange(T).expand(B, T))
        return self.proj(hidden[torch.arange(B), lengths - 1])  # (B, out) at <eos>


def train_encoder_clip(recipe: "Recipe", vision: VisionEncoder, tokenizer, pool: torch.Tensor,
                       log: list) -> None:
    torch.manual_seed(recipe.seed * 10 + 1)
    embed_dim = 128
    text = TextTower(tokenizer.get_vocab_size(), recipe.vision_dim, embed_dim)
    image_proj = nn.Linear(recipe.vision_dim, embed_dim)
    logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    captions = [template.answer_ids(tokenizer, prompts.caption(scenes.scene("train", i)))
                for i in range(len(pool))]
    gen = torch.Generator().manual_seed(recipe.seed * 10 + 2)

    def loss_fn(step: int) -> torch.Tensor:
        idx = torch.randperm(len(pool), generator=gen)[: recipe.encoder_batch]
        img = F.normalize(image_proj(vision(to_float(pool[idx])).mean(1)), dim=-1)
        rows = [captions[i] for i in idx.tolist()]
        lengths = torch.tensor([len(r) for r in rows])
        ids = torch.full((len(rows), int(lengths.max())), PAD, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
        txt = F.normalize(text(ids, lengths), dim=-1)
        logits = logit_scale.clamp(max=math.log(100)).exp() * img @ txt.T  # (B, B)
        target = torch.arange(len(rows))
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2

    params = [*vision.parameters(), *text.parameters(), *image_proj.parameters(), logit_scale]
    run_loop("encoder", recipe.encoder_steps, params, recipe.encoder_lr, loss_fn, log)


def train_encoder(recipe: "Recipe", vision: VisionEncoder, tokenizer, pool: torch.Tensor,
                  log: list) -> None:
    if recipe.encoder_objective == "clip":
        train_encoder_clip(recipe, vision, tokenizer, pool, log)
    else:
        train_encoder_dense(recipe, vision, pool, log)


# --- LM pretraining ---------------------------------------------------------------------------
#
# Spatial questions sit on a saddle (docs/training.md, "Session 5"): the question's object word
# must first find its cell among the grid's 16 (content attention) before the cell's position
# can carry the answer, and with left and right both asked the answer is an XOR of position and
# relation word, so neither gives a gradient alone. Two aids break it, each useless alone:
# - pointer supervision: a cross-entropy on one attention head (head 0 of the LM's first block,
#   or of the first gated layer for cross_attn) from each object word of the question to the
#   grid cell holding that object (recipe.pointer_weight);
# - a relation curriculum: until recipe.spatial_pairs_until (a fraction of the stage) spatial
#   questions ask "left" only and their grid shows just the two objects asked about; until
#   recipe.spatial_axes_until they ask "left" or "above" on the full grid; then all four.

Pointers = list[tuple[int, int]]  # (position of an object word in the prompt, its cell)


def spatial_relations(recipe: "Recipe", step: int) -> tuple[tuple[str, ...], bool]:
    """The relations asked at this step of the LM stage, and whether grids show only the pair."""
    progress = step / max(1, recipe.lm_steps)
    if progress < recipe.spatial_pairs_until:
        return ("left",), True
    if progress < recipe.spatial_axes_until:
        return ("left", "above"), False
    return tuple(prompts.RELATIONS), False


def grid_example(scene: scenes.Scene, rng: random.Random, side: int,
                 relations: tuple[str, ...] = tuple(prompts.RELATIONS), pair_only: bool = False,
                 ) -> tuple[str, str, list[str]]:
    """A GRID_MIX question about the scene, its answer and the word grid it is read from."""
    kinds, weights = zip(*curriculum.GRID_MIX.items())
    while True:
        kind = rng.choices(kinds, weights)[0]
        if kind != "spatial":
            q, a = curriculum.instruction(scene, rng, {kind: 1})
            return q, a, curriculum.word_grid(scene, side)
        pair = curriculum.spatial_pair(scene, rng, relations)
        if pair is not None:
            first, relation, second = pair
            answer = "yes" if prompts.relation_holds(first, relation, second) else "no"
            shown = [first, second] if pair_only else None
            return (prompts.spatial_question(first.category, relation, second.category), answer,
                    curriculum.word_grid(scene, side, shown))


def pointers(tokenizer, prompt: list[int], words: list[str], offset: int) -> Pointers:
    """(position, cell) for each word of the prompt after `offset` naming an object that occurs
    once in the grid."""
    cells: dict[int, list[int]] = {}
    for cell, word in enumerate(words):
        if word != curriculum.EMPTY:
            cells.setdefault(tokenizer.token_to_id(word), []).append(cell)
    return [(pos, cells[t][0]) for pos, t in enumerate(prompt) if pos >= offset
            and len(cells.get(t, ())) == 1]


def pointer_loss(attn: nn.Module, queries: torch.Tensor, keys: torch.Tensor,
                 targets: list[Pointers], key_offset: int, causal: bool) -> torch.Tensor:
    """Cross-entropy of head 0's attention logits from each pointer's query position over
    the key positions (queries: (B, T, D) attention inputs; keys: (B, S, D) its key source),
    the target being key_offset + cell; causal: keys after the query are masked."""
    rows = [(b, pos, key_offset + cell) for b, row in enumerate(targets) for pos, cell in row]
    if not rows:
        return queries.new_zeros(())
    b, pos, target = (torch.tensor(c) for c in zip(*rows))
    B, T, D = queries.shape
    dh = D // attn.heads
    q = attn.q(queries[b, pos])[:, :dh]  # (M, Dh): head 0
    k = attn.kv(keys[b])[:, :, :dh]  # (M, S, Dh): head 0's keys (kv's first D are keys)
    logits = torch.einsum("md,msd->ms", q, k) / dh ** 0.5
    if causal:
        logits = logits.masked_fill(torch.arange(keys.shape[1])[None] > pos[:, None], -1e9)
    return F.cross_entropy(logits, target)


def train_lm(recipe: "Recipe", lm: DecoderLM, tokenizer, log: list, grid_side: int,
             connector: Connector | None = None) -> None:
    """A mix of captions as plain text (the world's language and its co-occurrence prior),
    scenes as text (instructions answered from a grid_side x grid_side word grid; LM_MIX) and
    text skills in the instruction template, plus the spatial aids above.

    The word grid sits where the model will read the image from: in the image slot of the
    prompt, or, given a cross_attn connector, in its memory, read through its gated layers
    (trained here with the LM, so they open before any image features arrive)."""
    torch.manual_seed(recipe.seed * 10 + 3)
    rng = random.Random(f"lm-{recipe.seed}")
    kinds, weights = zip(*LM_MIX.items())
    in_memory = connector is not None and connector.kind == "cross_attn"
    cells = grid_side * grid_side
    no_grid = [template.special(tokenizer, "<pad>")] * cells

    def example(step: int) -> tuple[list[int], list[int], list[int] | None, Pointers]:
        kind = rng.choices(kinds, weights)[0]
        if kind == "text":
            q, a = curriculum.text_skill(rng)
            return template.prompt_ids(tokenizer, q, 0), template.answer_ids(tokenizer, a), None, []
        scene = scenes.scene("train", rng.randrange(recipe.train_images))
        if kind == "caption":
            return ([template.special(tokenizer, "<bos>")],
                    template.answer_ids(tokenizer, prompts.caption(scene)), None, [])
        q, a, words = grid_example(scene, rng, grid_side, *spatial_relations(recipe, step))
        answer = template.answer_ids(tokenizer, a)
        if in_memory:
            prompt = template.prompt_ids(tokenizer, q, 0)
            grid = [tokenizer.token_to_id(w) for w in words]
            return prompt, answer, grid, pointers(tokenizer, prompt, words, 1)
        prompt = template.prompt_ids(tokenizer, q, 0, words)
        return prompt, answer, None, pointers(tokenizer, prompt, words, 1 + cells)

    def loss_fn(step: int) -> torch.Tensor:
        rows, answers, grids, targets = zip(*(example(step) for _ in range(recipe.batch_size)))
        ids, labels = pad_batch(list(rows), list(answers))
        B, T = ids.shape
        positions = torch.arange(T).expand(B, T)
        aux = []
        if in_memory:  # rows without a grid attend to <pad> words, gated off by `has`
            memory = connector.placed(lm.embed(torch.tensor([g or no_grid for g in grids])), lm)  # (B, M, D)
            has = torch.tensor([g is not None for g in grids], dtype=memory.dtype)[:, None, None]

            def between(i: int, h: torch.Tensor) -> torch.Tensor:
                if recipe.pointer_weight and i + 1 == connector.cfg.every:  # the first layer
                    layer = connector.layers[0]
                    aux.append(pointer_loss(layer.attn, layer.ln_attn(h), memory, targets, 0,
                                             causal=False))
                return connector.after_block(i, h, memory, has)
        else:
            between = None
            if recipe.pointer_weight:
                block = lm.blocks[0]
                x = block.ln1(lm.embed(ids) + lm.pos(positions))  # block 0's attention input
                aux.append(pointer_loss(block.attn, x, x, targets, 1, causal=True))
        hidden, _ = lm(lm.embed(ids), positions, between=between)
        loss = answer_loss(lm.logits(hidden), labels)
        return loss + recipe.pointer_weight * sum(aux) if aux else loss

    params = [p for p in lm.parameters() if p.requires_grad]
    if in_memory:
        params += list(connector.layers.parameters())
    run_loop("lm", recipe.lm_steps, params, recipe.lm_lr, loss_fn, log)


@torch.no_grad()
def validate_lm(lm: DecoderLM, tokenizer, grid_side: int, connector: Connector | None = None,
                n: int = 400, seed: int = 0) -> dict[str, float]:
    """First-token accuracy of the LM alone on held-out scenes as word grids, per GRID_MIX kind
    (spatial over all four relations): what the LM stage taught before any image arrives."""
    from vlmeval.vlm.train import VAL_START
    rng = random.Random(f"val-lm-{seed}")
    in_memory = connector is not None and connector.kind == "cross_attn"
    was_training = lm.training
    lm.eval()
    out = {}
    for kind in curriculum.GRID_MIX:
        rows, grids, gold = [], [], []
        for i in range(n):
            scene = scenes.scene("train", VAL_START + i)
            example = getattr(curriculum, kind)(scene, rng)
            if example is None:
                continue
            q, a = example
            words = curriculum.word_grid(scene, grid_side)
            rows.append(template.prompt_ids(tokenizer, q, 0, None if in_memory else words))
            grids.append([tokenizer.token_to_id(w) for w in words])
            gold.append(template.answer_ids(tokenizer, a)[0])
        ids, mask = template.left_pad(rows)
        B, T = ids.shape
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        allowed = torch.tril(torch.ones(T, T, dtype=torch.bool))[None] & mask.bool()[:, None, :]
        allowed |= torch.eye(T, dtype=torch.bool)  # pad queries see themselves (no NaN)
        between = None
        if in_memory:
            memory = connector.placed(lm.embed(torch.tensor(grids)), lm)
            has = torch.ones(B, 1, 1)
            between = lambda i, h: connector.after_block(i, h, memory, has)  # noqa: E731
        hidden, _ = lm(lm.embed(ids), positions, mask=allowed[:, None], between=between)
        predicted = lm.logits(hidden[:, -1]).argmax(-1)
        out[kind] = round(float((predicted == torch.tensor(gold)).float().mean()), 4)
    lm.train(was_training)
    return out
