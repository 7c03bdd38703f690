"""Adapters and model specs.

A model spec is a registered name (`baseline:oracle`, later `zoo:...`) or a checkpoint
directory. `resolve_model` turns a spec into an Adapter.
"""

from __future__ import annotations

from typing import Callable

from vlmeval.adapters.base import Adapter
from vlmeval.adapters.baselines import AlwaysYesAdapter, BlindAdapter, OracleAdapter
from vlmeval.registry import Registry, UnknownName

# Named models: spec -> factory(spec) -> Adapter.
MODELS: Registry[Callable[[str], Adapter]] = Registry("model")
MODELS.register("baseline:oracle")(OracleAdapter)
MODELS.register("baseline:always-yes")(AlwaysYesAdapter)
MODELS.register("baseline:blind")(BlindAdapter)


def resolve_model(spec: str) -> Adapter:
    """Build the adapter for a model spec; unknown specs fail with the valid names."""
    if spec in MODELS:
        return MODELS.get(spec)(spec)
    raise UnknownName(
        MODELS.unknown_message(spec).replace("unknown model", "unknown model (not a directory either)", 1)
    )


def describe(factory: Callable) -> str:
    doc = (factory.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


__all__ = ["Adapter", "MODELS", "resolve_model", "describe"]
