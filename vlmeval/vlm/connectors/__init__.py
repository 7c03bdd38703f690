"""Connectors, one small registered file each."""

from vlmeval.registry import discover
from vlmeval.vlm.connectors.base import CONNECTORS, Connector

discover("vlmeval.vlm.connectors")  # each connector file registers itself

__all__ = ["CONNECTORS", "Connector"]
