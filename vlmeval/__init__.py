"""vlmeval: evaluation and hallucination benchmarks for vision-language models.

Python API (mirrors `vlmeval run`):

    import vlmeval
    result = vlmeval.evaluate("baseline:oracle", suite="hallucination")
    result.results["tasks"]["pope"]["metrics"]["mean/f1"]["value"], result.run_dir
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["evaluate", "RunResult", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy: `vlmeval --help` must not pay for numpy, PIL or torch.
    if name in ("evaluate", "RunResult"):
        from vlmeval import api

        return getattr(api, name)
    raise AttributeError(f"module 'vlmeval' has no attribute {name!r}")
