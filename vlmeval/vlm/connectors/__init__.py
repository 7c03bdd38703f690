"""Connectors, one small registered file each."""

from vlmeval.vlm.connectors import cross_attn, linear, mlp2x_gelu, resampler  # noqa: F401
from vlmeval.vlm.connectors.base import CONNECTORS, Connector

__all__ = ["CONNECTORS", "Connector"]
