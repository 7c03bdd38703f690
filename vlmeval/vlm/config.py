"""Small config dataclasses, validated when built: a bad value fails here, not deep in a matmul."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from vlmeval.errors import ConfigError

ImageAttention = Literal["causal", "bidirectional"]
Stem = Literal["patch", "conv"]


def _positive(owner: str, **values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{owner}.{name} must be a positive integer, got {value!r}")


def _divides(owner: str, what: str, a: int, b: int) -> None:
    if b % a:
        raise ConfigError(f"{owner}: {what} ({a}) must divide {b}")


@dataclass(frozen=True)
class VisionConfig:
    image_size: int = 64
    patch_size: int = 8
    dim: int = 64
    depth: int = 2
    heads: int = 4
    mlp_ratio: int = 4
    stem: Stem = "patch"
    # A Hugging Face CLIP/SigLIP tower instead of the built-in ViT (vlm/hf_parts.py): its config
    # dict, pixel mean/std, feature layer and source directory. The fields above then mirror it.
    hf: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.stem not in ("patch", "conv"):
            raise ConfigError(f"vision.stem must be 'patch' or 'conv', got {self.stem!r}")
        if self.stem == "conv" and self.patch_size != 8:
            raise ConfigError(f"vision.stem 'conv' downsamples by 8; set vision.patch_size to 8 "
                              f"(got {self.patch_size}) or use stem 'patch'")
        _positive("vision", image_size=self.image_size, patch_size=self.patch_size, dim=self.dim,
                  depth=self.depth, heads=self.heads, mlp_ratio=self.mlp_ratio)
        _divides("vision", "patch_size", self.patch_size, self.image_size)
        _divides("vision", "heads", self.heads, self.dim)

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    @property
    def n_patches(self) -> int:
        return self.grid * self.grid


@dataclass(frozen=True)
class LMConfig:
    vocab_size: int
    dim: int = 128
    depth: int = 4
    heads: int = 4
    max_len: int = 256
    mlp_ratio: int = 4
    # A Hugging Face causal LM instead of the built-in decoder (vlm/hf_parts.py): its config dict
    # and source directory. The fields above then mirror it.
    hf: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        _positive("lm", vocab_size=self.vocab_size, dim=self.dim, depth=self.depth,
                  heads=self.heads, max_len=self.max_len, mlp_ratio=self.mlp_ratio)
        _divides("lm", "heads", self.heads, self.dim)


@dataclass(frozen=True)
class ConnectorConfig:
    """name: a registered connector. pool: average-pool the patch grid by pool x pool first
    (the image-token budget). queries: the resampler's fixed token count. every: cross_attn
    inserts a gated layer after every `every` LM blocks. image_attention: whether image tokens
    in a prefix attend to each other causally or bidirectionally."""

    name: str = "mlp2x_gelu"
    pool: int = 1
    queries: int = 16
    every: int = 2
    image_attention: ImageAttention = "causal"

    def __post_init__(self) -> None:
        _positive("connector", pool=self.pool, queries=self.queries, every=self.every)
        if self.image_attention not in ("causal", "bidirectional"):
            raise ConfigError(f"connector.image_attention must be 'causal' or 'bidirectional', "
                              f"got {self.image_attention!r}")


@dataclass(frozen=True)
class VLMConfig:
    lm: LMConfig
    vision: VisionConfig = field(default_factory=VisionConfig)
    connector: ConnectorConfig = field(default_factory=ConnectorConfig)
    image_token_id: int = 1

    def __post_init__(self) -> None:
        _divides("connector", "pool", self.connector.pool, self.vision.grid)
        if not 0 <= self.image_token_id < self.lm.vocab_size:
            raise ConfigError(f"image_token_id {self.image_token_id} is outside the vocabulary "
                              f"(size {self.lm.vocab_size})")
        if self.connector.name == "cross_attn":
            _divides("connector", "every", self.connector.every, self.lm.depth)
        if self.lm.hf is not None and self.connector.name == "cross_attn":
            raise ConfigError("connector 'cross_attn' inserts gated layers between the built-in "
                              "LM's blocks; with a Hugging Face LM (--lm) use a prefix connector "
                              "(linear, mlp2x_gelu, resampler)")
        if self.lm.hf is not None and self.connector.image_attention == "bidirectional":
            raise ConfigError("connector.image_attention 'bidirectional' needs the built-in LM; "
                              "a Hugging Face LM (--lm) attends causally: use 'causal'")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "VLMConfig":
        try:
            return cls(lm=LMConfig(**data["lm"]), vision=VisionConfig(**data["vision"]),
                       connector=ConnectorConfig(**data["connector"]),
                       image_token_id=data["image_token_id"])
        except (KeyError, TypeError) as e:
            raise ConfigError(f"VLM config: missing or unknown field ({e}); expected the fields "
                              f"of VLMConfig.to_json()") from None
