"""The trainer behind `vlmeval train`: four stages on the scenes train split.

1. encoder   dense per-patch supervision by default, or CLIP-style InfoNCE (pretrain.py).
2. lm        the decoder LM learns the language: captions as plain text (which shapes go
             together: the prior POPE probes), scenes as text (questions answered from a grid
             of words in the image slot, `curriculum.word_grid`) and the text skills of
             `curriculum.text_skill`.
3. align     encoder and LM frozen; the connector learns to turn patch features into image
             tokens the LM can read: the instruction mix (captions included) through the
             frozen LM, plus, for connectors with one image token (or cross_attn memory slot)
             per grid cell, a grounding loss: each token, read through the LM's tied output
             head, names the word of its cell in the scene's word grid.
4. instruct  encoder frozen; connector + LM learn the instruction mix (presence with honest
             "no"s, counting, spatial relations, colours, captions), plus a share of text-only
             examples (--text-mix) so text skills survive visual tuning.

Stages 1-2 do not depend on the connector: with `base=DIR` they are trained once, saved there,
and reused by every connector trained with the same recipe (as LLaVA variants share one CLIP and
one LM). Bring-your-own parts (`vision_encoder`, `lm`: local Hugging Face directories, see
hf_parts.py) replace the built-in ones and skip their pretraining stage. Everything is seeded;
train.json records recipe, seeds, steps, losses and validation.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from vlmeval.data import scenes
from vlmeval.errors import ConfigError
from vlmeval.vlm import curriculum, template
from vlmeval.vlm.checkpoint import save_checkpoint
from vlmeval.vlm.config import ConnectorConfig, LMConfig, VisionConfig, VLMConfig
from vlmeval.vlm.connectors import CONNECTORS
from vlmeval.vlm.loop import answer_loss, pad_batch, run_loop, trainable
from vlmeval.vlm.model import VLM
from vlmeval.vlm.pretrain import ENCODER_OBJECTIVES, to_float, train_encoder, train_lm, validate_lm
from vlmeval.vlm.tokenizer import build_tokenizer

if TYPE_CHECKING:
    from tokenizers import Tokenizer

STAGES = ("encoder", "lm", "align", "instruct")
VAL_START = 1_000_000  # validation scenes: train-split indices far beyond any training pool


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the trained weights (recorded in train.json)."""

    connector: str = "mlp2x_gelu"
    seed: int = 0
    encoder_objective: str = "dense"
    train_images: int = 20_000
    encoder_steps: int = 500
    lm_steps: int = 2000
    align_steps: int = 300
    instruct_steps: int = 2000
    encoder_batch: int = 256
    batch_size: int = 64
    encoder_lr: float = 2e-3
    lm_lr: float = 1e-3
    align_lr: float = 2e-3
    instruct_lr: float = 1e-3
    text_mix: float = 0.1
    val_images: int = 400
    pool: int = 2
    vision_dim: int = 64
    vision_depth: int = 2
    vision_stem: str = "conv"
    lm_dim: int = 128
    lm_depth: int = 4
    pointer_weight: float = 1.0  # LM stage: weight of the spatial pointer loss (pretrain.py)
    spatial_pairs_until: float = 0.25  # LM stage fraction asking "left" of two-object grids
    spatial_axes_until: float = 0.5  # ... then "left"/"above" on full grids until this fraction
    vision_encoder: str | None = None  # a local HF CLIP/SigLIP directory instead of the built-in ViT
    lm: str | None = None  # a local HF causal-LM directory instead of the built-in LM

    def __post_init__(self) -> None:
        if self.connector not in CONNECTORS:
            raise ConfigError(CONNECTORS.unknown_message(self.connector))
        if self.encoder_objective not in ENCODER_OBJECTIVES:
            raise ConfigError(f"encoder_objective must be one of {ENCODER_OBJECTIVES}, "
                              f"got {self.encoder_objective!r}")
        if not 0.0 <= self.text_mix < 1.0:
            raise ConfigError(f"--text-mix must be in [0, 1), got {self.text_mix}")
        for name in ("encoder_steps", "lm_steps", "align_steps", "instruct_steps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.lm is not None and self.connector == "cross_attn":
            raise ConfigError("--connector cross_attn needs the built-in LM (its gated layers sit "
                              "between the LM's blocks); with --lm use linear, mlp2x_gelu or resampler")

    def base_fields(self) -> dict[str, Any]:
        """The fields stages 1-2 depend on: a saved base is reused only if these match."""
        keys = ("seed", "encoder_objective", "train_images", "encoder_steps", "lm_steps", "encoder_batch",
                "batch_size", "encoder_lr", "lm_lr", "vision_dim", "vision_depth", "vision_stem", "lm_dim",
                "lm_depth", "pool", "vision_encoder", "lm", "pointer_weight", "spatial_pairs_until",
                "spatial_axes_until")
        fields = {k: getattr(self, k) for k in keys}
        # A cross_attn LM learns to read the word grid through its gated layers, which the base
        # then holds too; every prefix connector shares one base.
        fields["lm_reads"] = "cross_attn" if self.connector == "cross_attn" else "prefix"
        return fields


# --- data ----------------------------------------------------------------------------------

def recipe_for(connector: str, seed: int = 0, text_mix: float | None = None,
               steps: dict[str, int] | None = None, train_images: int | None = None,
               **fields: Any) -> Recipe:
    """The shipped recipe for a connector, with the command line's overrides (None: default)."""
    overrides: dict[str, Any] = {f"{k}_steps": v for k, v in (steps or {}).items()}
    overrides.update((k, v) for k, v in (("text_mix", text_mix), ("train_images", train_images))
                     if v is not None)
    return Recipe(connector=connector, seed=seed, **overrides, **fields)


def parse_steps(text: str) -> dict[str, int]:
    """"encoder=1500,instruct=2000" -> {"encoder": 1500, "instruct": 2000}."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        stage, _, value = part.partition("=")
        if stage not in STAGES or not value.isdigit():
            raise ConfigError(f"--steps: {part!r} is not STAGE=N with STAGE one of "
                              f"{', '.join(STAGES)} (e.g. --steps align=400,instruct=2000)")
        out[stage] = int(value)
    return out


def render_pool(n: int, start: int = 0) -> torch.Tensor:
    """Train-split scenes [start, start + n) as a uint8 tensor (n, 3, 64, 64)."""
    arrays = [np.asarray(scenes.render(scenes.scene("train", i))) for i in range(start, start + n)]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


# --- stages 3-4: align and instruct ---------------------------------------------------------

class VisualData:
    """Batches of (image, question, answer) over the pool, with frozen patch features."""

    def __init__(self, model: VLM, tokenizer, patches: torch.Tensor, recipe: Recipe,
                 stage: str) -> None:
        self.model, self.tok, self.patches, self.recipe = model, tokenizer, patches, recipe
        self.rng = random.Random(f"{stage}-{recipe.seed}")
        self.stage = stage
        side = grid_side(model)
        # Grounding reads each image token (prefix) or memory slot (cross_attn) through the
        # built-in LM's tied head as its cell's grid word.
        slots = (model.image_tokens if model.connector.kind == "prefix"
                 else model.connector.memory_size(model.cfg.vision.n_patches))
        self.grounded = slots == side * side and model.cfg.lm.hf is None
        if stage == "align" and self.grounded:  # (pool, side * side) word ids of each cell
            self.grid_ids = torch.tensor(
                [[tokenizer.token_to_id(w) for w in curriculum.word_grid(scenes.scene("train", i), side)]
                 for i in range(len(patches))])

    def example(self) -> tuple[int | None, str, str]:
        if self.stage == "instruct" and self.rng.random() < self.recipe.text_mix:
            return (None, *curriculum.text_skill(self.rng))
        i = self.rng.randrange(len(self.patches))
        scene = scenes.scene("train", i)
        return (i, *curriculum.instruction(scene, self.rng))

    def loss(self, examples: list[tuple[int | None, str, str]],
             patches: torch.Tensor | None = None) -> torch.Tensor:
        n_img = self.model.image_tokens
        rows = [template.prompt_ids(self.tok, q, n_img if i is not None else 0)
                for i, q, _ in examples]
        answers = [template.answer_ids(self.tok, a) for _, _, a in examples]
        ids, labels = pad_batch(rows, answers)
        image_rows = torch.tensor([i is not None for i, _, _ in examples])
        if patches is None:
            idx = [i for i, _, _ in examples if i is not None]
            patches = self.patches[idx]
        features = self.model.connector(patches) if len(patches) else None
        logits, _ = self.model(ids, features=features, image_rows=image_rows)
        loss = answer_loss(logits, labels)
        if self.stage == "align" and self.grounded and features is not None:
            idx = [i for i, _, _ in examples if i is not None]
            loss = loss + F.cross_entropy(self.model.lm.logits(features).flatten(0, 1),
                                          self.grid_ids[idx].flatten())
        return loss

    def loss_fn(self, step: int) -> torch.Tensor:
        return self.loss([self.example() for _ in range(self.recipe.batch_size)])


@torch.no_grad()
def validate(model: VLM, tokenizer, recipe: Recipe) -> dict[str, float]:
    """First-token accuracy per instruction kind on held-out train-split scenes (indices from
    VAL_START, never trained on); a quick training signal, not a benchmark."""
    model.eval()
    rng = random.Random(f"val-{recipe.seed}")
    n = recipe.val_images
    images = to_float(render_pool(n, start=VAL_START))
    patches = model.vision(images)
    out = {}
    for kind in ("presence", "count", "spatial", "colour"):
        fn = getattr(curriculum, kind)
        examples = [(i, *ex) for i in range(n)
                    if (ex := fn(scenes.scene("train", VAL_START + i), rng)) is not None]
        rows = [template.prompt_ids(tokenizer, q, model.image_tokens) for _, q, _ in examples]
        ids, mask = template.left_pad(rows)
        features = model.connector(patches[[i for i, _, _ in examples]])
        logits, _ = model(ids, features=features, image_rows=torch.ones(len(rows), dtype=torch.bool),
                          attention_mask=mask)
        predicted = logits[:, -1].argmax(-1)
        gold = torch.tensor([template.answer_ids(tokenizer, a)[0] for _, _, a in examples])
        out[kind] = round(float((predicted == gold).float().mean()), 4)
    model.train()
    return out


# --- the whole recipe -----------------------------------------------------------------------

def grid_side(model: VLM) -> int:
    """Cells per side of the image-token grid: the encoder's patch grid pooled by `pool`."""
    return model.cfg.vision.grid // model.cfg.connector.pool


def build_model(recipe: Recipe) -> tuple[VLM, "Tokenizer"]:
    """The untrained model and its tokenizer; bring-your-own parts come with their weights."""
    if recipe.vision_encoder is not None or recipe.lm is not None:
        from vlmeval.vlm import hf_parts
    if recipe.lm is not None:
        tokenizer = hf_parts.lm_tokenizer(Path(recipe.lm))
        lm = hf_parts.lm_config(Path(recipe.lm), tokenizer)
    else:
        tokenizer = build_tokenizer(curriculum.vocabulary_corpus())
        lm = LMConfig(vocab_size=tokenizer.get_vocab_size(), dim=recipe.lm_dim,
                      depth=recipe.lm_depth, heads=4, max_len=128)
    vision = (hf_parts.vision_config(Path(recipe.vision_encoder)) if recipe.vision_encoder
              else VisionConfig(dim=recipe.vision_dim, depth=recipe.vision_depth,
                                stem=recipe.vision_stem))
    model = VLM(VLMConfig(lm=lm, vision=vision,
                          connector=ConnectorConfig(name=recipe.connector, pool=recipe.pool),
                          image_token_id=template.special(tokenizer, "<image>")))
    if recipe.vision_encoder is not None:
        hf_parts.load_pretrained(model.vision, Path(recipe.vision_encoder))
    if recipe.lm is not None:
        hf_parts.load_pretrained(model.lm, Path(recipe.lm))
    return model, tokenizer


def _load_base(base: Path, recipe: Recipe, model: VLM) -> dict[str, Any] | None:
    meta = base / "base.json"
    if not meta.is_file():
        return None
    record = json.loads(meta.read_text())
    if record["recipe"] != recipe.base_fields() or record["vocab_size"] != model.cfg.lm.vocab_size:
        raise ConfigError(f"{meta}: this base was trained with a different recipe "
                          f"({record['recipe']}); use another --base directory or remove it")
    model.vision.load_state_dict(load_file(str(base / "encoder.safetensors")))
    model.lm.load_state_dict(load_file(str(base / "lm.safetensors")))
    if model.connector.kind == "cross_attn":
        model.connector.load_state_dict(load_file(str(base / "connector.safetensors")))
    return record


def train(recipe: Recipe, out: Path, base: Path | None = None) -> dict[str, Any]:
    """Run the recipe and save a checkpoint directory at `out`; returns the train record."""
    started = time.perf_counter()
    torch.manual_seed(recipe.seed)
    model, tokenizer = build_model(recipe)
    losses: dict[str, list] = {s: [] for s in STAGES}
    seconds: dict[str, float] = {}

    pool = render_pool(recipe.train_images)
    base_record = _load_base(base, recipe, model) if base else None
    if base_record:
        losses.update({s: base_record["losses"][s] for s in ("encoder", "lm")})
        seconds.update({s: base_record["seconds"][s] for s in ("encoder", "lm")})
        lm_val = base_record.get("lm_validation")
        print(f"reusing encoder and LM from {base}")
    else:
        t0 = time.perf_counter()
        if recipe.vision_encoder is None:  # a bring-your-own encoder comes pretrained
            train_encoder(recipe, model.vision, tokenizer, pool, losses["encoder"])
        seconds["encoder"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        lm_val = None
        if recipe.lm is None:
            train_lm(recipe, model.lm, tokenizer, losses["lm"], grid_side(model), model.connector)
            lm_val = validate_lm(model.lm, tokenizer, grid_side(model), model.connector,
                                 n=recipe.val_images, seed=recipe.seed)
        seconds["lm"] = round(time.perf_counter() - t0, 1)
        if base:
            base.mkdir(parents=True, exist_ok=True)
            save_file({k: v.contiguous() for k, v in model.vision.state_dict().items()},
                      str(base / "encoder.safetensors"))
            save_file({k: v.contiguous() for k, v in model.lm.state_dict().items()},
                      str(base / "lm.safetensors"))
            if model.connector.kind == "cross_attn":
                save_file({k: v.contiguous() for k, v in model.connector.state_dict().items()},
                          str(base / "connector.safetensors"))
            base_meta = {"recipe": recipe.base_fields(), "vocab_size": model.cfg.lm.vocab_size,
                      "losses": {s: losses[s] for s in ("encoder", "lm")},
                      "seconds": {s: seconds[s] for s in ("encoder", "lm")}, "lm_validation": lm_val}
            (base / "base.json").write_text(json.dumps(base_meta, indent=2) + "\n")

    # The encoder is frozen from here on: its patch features are computed once.
    model.vision.requires_grad_(False)
    with torch.no_grad():
        patches = torch.cat([model.vision(to_float(pool[i: i + 512]))
                             for i in range(0, len(pool), 512)])
    del pool

    model.lm.requires_grad_(False)
    torch.manual_seed(recipe.seed * 10 + 5)
    data = VisualData(model, tokenizer, patches, recipe, "align")
    t0 = time.perf_counter()
    run_loop("align", recipe.align_steps, trainable(model.connector), recipe.align_lr,
             data.loss_fn, losses["align"])
    seconds["align"] = round(time.perf_counter() - t0, 1)

    model.lm.requires_grad_(True)
    torch.manual_seed(recipe.seed * 10 + 6)
    data = VisualData(model, tokenizer, patches, recipe, "instruct")
    t0 = time.perf_counter()
    run_loop("instruct", recipe.instruct_steps, trainable(model.connector, model.lm),
             recipe.instruct_lr, data.loss_fn, losses["instruct"])
    seconds["instruct"] = round(time.perf_counter() - t0, 1)

    val = validate(model, tokenizer, recipe)
    record = {
        "recipe": asdict(recipe), "stages": list(STAGES), "losses": losses, "seconds": seconds,
        "lm_validation": lm_val, "validation": val, "params": model.num_params(), "image_tokens": model.image_tokens,
        "base": str(base) if base else None, "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    save_checkpoint(out, model.eval(), tokenizer, record)
    return record
