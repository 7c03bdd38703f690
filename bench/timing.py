"""Time spent inside functions, summed per name: the benchmarks wrap runner.run_task (the
batches) and runner.predict (the adapter's calls) with it."""

from __future__ import annotations

import time
from typing import Any, Callable


def timed(spent: dict[str, float], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[name] += time.perf_counter() - start
    return wrapper
