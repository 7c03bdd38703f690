"""Adapters and model specs.

A model spec is a registered name (`baseline:oracle`, `zoo:scenes-mlp2x_gelu`) or a checkpoint
directory. For a directory, the adapter is picked from its contents (each registered loader's
`detect`); `--adapter NAME` forces one. `resolve_model` turns a spec into an Adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from vlmeval.adapters.base import Adapter
from vlmeval.adapters.baselines import AlwaysYesAdapter, BlindAdapter, OracleAdapter
from vlmeval.errors import ConfigError
from vlmeval.registry import Registry, UnknownName

ZOO_DIR = Path(__file__).resolve().parent.parent / "zoo"
DEFAULT_MODEL = "zoo:scenes-mlp2x_gelu"

# Named models: spec -> factory(spec) -> Adapter.
MODELS: Registry[Callable[[str], Adapter]] = Registry("model")
MODELS.register("baseline:oracle")(OracleAdapter)
MODELS.register("baseline:always-yes")(AlwaysYesAdapter)
MODELS.register("baseline:blind")(BlindAdapter)


@dataclass(frozen=True)
class Loader:
    """How to load a checkpoint directory: `detect(path)` says whether it is this loader's
    format, `load(spec, path)` builds the adapter. Imports stay inside, so listing is cheap."""

    detect: Callable[[Path], bool]
    load: Callable[[str, Path], Adapter]
    about: str


def _native_detect(path: Path) -> bool:
    from vlmeval.vlm.checkpoint import is_checkpoint
    return is_checkpoint(path)


def _native_load(spec: str, path: Path, **options) -> Adapter:
    from vlmeval.adapters.native import NativeAdapter
    accept = options.pop("accept_changed_weights", False)
    prefix_cache = options.pop("prefix_cache", None)
    if prefix_cache is not None:
        try:
            prefix_cache = int(prefix_cache)
        except ValueError:
            raise ConfigError(f"--model-arg prefix_cache={prefix_cache}: expected a number of "
                              f"images (0 turns the shared image prefix off)") from None
    prefetch = as_flag("prefetch", options.pop("prefetch", True))
    if options:
        raise ConfigError(f"--model-arg {next(iter(options))}: not an option of vlmeval checkpoints "
                          f"(they read prefix_cache, prefetch and --accept-changed-weights)")
    return NativeAdapter(spec, path, accept_changed_weights=accept, prefix_cache=prefix_cache,
                         prefetch=prefetch)


def _no_options(spec: str, options: dict) -> None:
    if options:
        flags = ", ".join("--" + k.replace("_", "-") for k in options)
        raise ConfigError(f"{flags}: {spec!r} reads no model options (they apply to checkpoint "
                          f"directories, the zoo's checkpoints and served models)")


def _hf_detect(path: Path) -> bool:
    from vlmeval.adapters.hf import is_hf_checkpoint
    return is_hf_checkpoint(path)


HF_OPTIONS = ("dtype", "device", "trust_remote_code", "allow_pickle", "vision_cache", "shared_prefix",
              "prefetch")


def _hf_load(spec: str, path: Path, **options) -> Adapter:
    from vlmeval.adapters.hf import HFAdapter

    if options.pop("accept_changed_weights", False):
        raise ConfigError(f"--accept-changed-weights applies to vlmeval checkpoints (their "
                          f"config.json records the weights' sha256); {spec!r} is a Hugging Face "
                          f"checkpoint")
    unknown = next((k for k in options if k not in HF_OPTIONS), None)
    if unknown is not None:
        raise ConfigError(f"--model-arg {unknown}: not an option of Hugging Face checkpoints "
                          f"(they read {', '.join(HF_OPTIONS)})")
    for flag in ("trust_remote_code", "allow_pickle", "shared_prefix", "prefetch"):
        if flag in options:
            options[flag] = as_flag(flag, options[flag])
    return HFAdapter(spec, path, **options)


def as_flag(name: str, value) -> bool:
    """A yes/no option given as a flag (True) or as --model-arg NAME=true|false."""
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "1", "yes"):
        return True
    if str(value).lower() in ("false", "0", "no"):
        return False
    raise ConfigError(f"--model-arg {name}={value}: expected true or false")


def _openai_load(spec: str, **options) -> Adapter:
    from vlmeval.adapters.openai_api import OpenAIAdapter

    return OpenAIAdapter(spec, **options)


# Models by scheme: "openai:NAME" -> factory(spec, **options).
SCHEMES: Registry[Callable[..., Adapter]] = Registry("scheme")
SCHEMES.register("openai")(_openai_load)
_openai_load.__doc__ = ("a served model behind an OpenAI-compatible endpoint (vLLM, SGLang, TGI, "
                        "transformers serve, hosted APIs): openai:MODEL --base-url URL")


LOADERS: Registry[Loader] = Registry("adapter")
LOADERS.register("native")(Loader(_native_detect, _native_load,
                                  "our own VLM (config.json with \"format\": \"vlmeval-vlm\")"))
LOADERS.register("hf")(Loader(_hf_detect, _hf_load,
                              "a Hugging Face image-text-to-text checkpoint (config.json + processor)"))


def _zoo_factory(path: Path) -> Callable[..., Adapter]:
    def factory(spec: str, **options) -> Adapter:  # a vlmeval checkpoint's options
        return _native_load(spec, path, **options)
    factory.__doc__ = f"shipped checkpoint {path.name}: " + _zoo_summary(path)
    factory.takes_options = True
    return factory


def _zoo_summary(path: Path) -> str:
    import json
    try:
        config = json.loads((path / "config.json").read_text())["config"]
    except (OSError, KeyError, ValueError):
        return "(unreadable config.json)"
    return f"our VLM, {config['connector']['name']} connector, trained on the scenes world"


for _path in sorted(ZOO_DIR.glob("*/config.json")):
    MODELS.register(f"zoo:{_path.parent.name}")(_zoo_factory(_path.parent))


def resolve_model(spec: str, adapter: str | None = None, options: dict | None = None) -> Adapter:
    """Build the adapter for a model spec; unknown specs fail with the valid names.

    A spec is a scheme and a name (`openai:MODEL`), a registered name, or a directory.
    adapter: a LOADERS name that forces how a directory is loaded. options: the model options
    (`--model-arg KEY=VALUE` and the flags that stand for them); each factory takes the ones
    it reads and names any other as an error."""
    options = {k: v for k, v in (options or {}).items() if v is not None and v is not False}
    if adapter is not None and adapter not in LOADERS:
        raise UnknownName(LOADERS.unknown_message(adapter))
    scheme = spec.split(":", 1)[0] if ":" in spec else None
    if scheme in SCHEMES and not Path(spec).is_dir():
        if adapter is not None:
            raise ConfigError(f"--adapter {adapter} applies to checkpoint directories, but "
                              f"{spec!r} is a served model; drop --adapter")
        return SCHEMES.get(scheme)(spec, **options)
    if spec in MODELS and not Path(spec).is_dir():
        if adapter is not None:
            raise ConfigError(f"--adapter {adapter} applies to checkpoint directories, but "
                              f"{spec!r} is a named model; drop --adapter")
        factory = MODELS.get(spec)
        if getattr(factory, "takes_options", False):  # the shipped checkpoints
            return factory(spec, **options)
        _no_options(spec, options)
        return factory(spec)
    path = Path(spec)
    if path.is_dir():
        if adapter is not None:
            return LOADERS.get(adapter).load(spec, path, **options)
        for name in LOADERS:
            if LOADERS.get(name).detect(path):
                return LOADERS.get(name).load(spec, path, **options)
        raise ConfigError(
            f"{path}: no adapter recognises this directory (expected config.json with "
            f"\"format\": \"vlmeval-vlm\" for a vlmeval checkpoint, or a Hugging Face config.json "
            f"with a processor config); pass --adapter {{{','.join(LOADERS)}}} to force one")
    if spec.startswith((".", "/", "~")):
        raise ConfigError(f"--model {spec}: no such directory; give a checkpoint directory or a "
                          f"name from `vlmeval list adapters`")
    if "/" in spec:
        raise ConfigError(f"--model {spec}: no such directory. It looks like a Hugging Face hub id; "
                          f"vlmeval reads only local checkpoints and never downloads: download it "
                          f"yourself and pass the directory")
    raise UnknownName(
        MODELS.unknown_message(spec).replace("unknown model", "unknown model (not a directory either)", 1)
    )


def describe(factory: Callable) -> str:
    doc = (factory.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


from vlmeval import plugins  # noqa: E402  (after the registries it fills)

plugins.load(plugins.ADAPTER_GROUP)

__all__ = ["Adapter", "MODELS", "LOADERS", "SCHEMES", "Loader", "DEFAULT_MODEL", "resolve_model", "describe"]
