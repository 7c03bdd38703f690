"""Time spent inside functions, summed per name: the benchmarks wrap runner.run_task (the
batches) and runner.predict (the adapter's calls) with it. And the order benchmarks run their
variants in."""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator, Mapping


def timed(spent: dict[str, float], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[name] += time.perf_counter() - start
    return wrapper


def alternating(variants: Mapping[str, Any], rounds: int) -> Iterator[tuple[int, str, Any]]:
    """(round, name, variant) for every variant in every round, the order reversed every other
    round (A, B, then B, A), so a noisy machine's drift falls on both sides."""
    for k in range(rounds):
        items = list(variants.items())
        for name, variant in (items if k % 2 == 0 else reversed(items)):
            yield k, name, variant
