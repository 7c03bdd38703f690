"""Our checkpoint format: a directory that says what it is.

    config.json        {"format": "vlmeval-vlm", "format_version": 1, "config": VLMConfig,
                        "weights_sha256": the sha256 of model.safetensors}
    model.safetensors  the weights (no pickle)
    tokenizer.json     the `tokenizers` word-level tokenizer
    train.json         recipe, seeds, steps, losses (whatever the trainer records)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_model, save_model
from tokenizers import Tokenizer

from vlmeval.errors import ConfigError
from vlmeval.vlm.config import VLMConfig
from vlmeval.vlm.model import VLM
from vlmeval.vlm.tokenizer import load_tokenizer

FORMAT = "vlmeval-vlm"
FORMAT_VERSION = 1
FILES = ("config.json", "model.safetensors", "tokenizer.json", "train.json")


def read_config(path: Path) -> Any:
    """A checkpoint's config.json; one-line errors for a file that is not UTF-8 JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not a valid UTF-8 JSON file ({e}); restore the checkpoint's "
                          f"config.json") from None


def is_checkpoint(path: Path) -> bool:
    """True for a directory in our format (the marker in config.json decides)."""
    config = Path(path) / "config.json"
    if not config.is_file():
        return False
    data = read_config(config)
    return isinstance(data, dict) and data.get("format") == FORMAT


def save_checkpoint(out: Path, model: VLM, tokenizer: Tokenizer, train: dict[str, Any]) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_model(model, str(out / "model.safetensors"))  # drops tied copies (an HF LM's head)
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": model.cfg.to_json(),
              "weights_sha256": weights_sha256(out)}
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    tokenizer.save(str(out / "tokenizer.json"))
    (out / "train.json").write_text(json.dumps(train, indent=2) + "\n")


def weights_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(Path(path) / "model.safetensors", "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_checkpoint(path: Path, accept_changed_weights: bool = False) -> tuple[VLM, Tokenizer, dict[str, Any]]:
    """Model (eval mode), tokenizer and training record; errors name the file and the fix.

    config.json records the sha256 of model.safetensors when it is saved: weights that changed
    since (one flipped byte) are refused unless accept_changed_weights."""
    path = Path(path)
    missing = [f for f in FILES if not (path / f).is_file()]
    if missing:
        raise ConfigError(f"{path}: not a vlmeval checkpoint, missing {', '.join(missing)} "
                          f"(a checkpoint directory holds {', '.join(FILES)})")
    meta = read_config(path / "config.json")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ConfigError(f"{path / 'config.json'}: field 'format' is {meta.get('format')!r}, "
                          f"expected {FORMAT!r}; use --adapter to choose another loader")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ConfigError(f"{path / 'config.json'}: format_version {meta.get('format_version')!r} "
                          f"is not supported (this vlmeval reads {FORMAT_VERSION}); upgrade vlmeval")
    recorded = meta.get("weights_sha256")  # absent in checkpoints saved before it was recorded
    if recorded is not None and not accept_changed_weights and weights_sha256(path) != recorded:
        raise ConfigError(f"{path / 'model.safetensors'}: its sha256 differs from the one "
                          f"config.json recorded when the checkpoint was saved, so the weights "
                          f"changed since; restore them, or pass --accept-changed-weights to "
                          f"load them anyway")
    if not isinstance(meta.get("config"), dict):
        raise ConfigError(f"{path / 'config.json'}: no 'config' object (the model's settings); "
                          f"restore the checkpoint's config.json")
    try:
        model = VLM(VLMConfig.from_json(meta["config"]))
    except ConfigError as e:
        raise ConfigError(f"{path / 'config.json'}: {e}") from None
    try:
        missing, unexpected = load_model(model, str(path / "model.safetensors"), strict=False)
    except Exception as e:  # noqa: BLE001 - safetensors raises its own types for damaged files
        raise ConfigError(f"{path / 'model.safetensors'}: cannot read the weights "
                          f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); the "
                          f"file is damaged or truncated: restore it or train again") from None
    if missing or unexpected:
        raise ConfigError(f"{path / 'model.safetensors'}: weights do not match config.json "
                          f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]}); "
                          f"re-save the checkpoint")
    tokenizer = load_tokenizer(path / "tokenizer.json")
    # An HF LM's embedding matrix may have spare rows beyond its tokenizer; ours matches exactly.
    size, vocab = tokenizer.get_vocab_size(), model.cfg.lm.vocab_size
    if size > vocab or (model.cfg.lm.hf is None and size != vocab):
        raise ConfigError(f"{path / 'tokenizer.json'}: {tokenizer.get_vocab_size()} tokens but "
                          f"config lm.vocab_size is {model.cfg.lm.vocab_size}; re-save the checkpoint")
    return model.eval(), tokenizer, read_config(path / "train.json")
