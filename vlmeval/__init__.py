"""vlmeval: evaluation and hallucination benchmarks for vision-language models.

Python API (mirrors `vlmeval run`):

    import vlmeval
    result = vlmeval.evaluate("baseline:oracle", suite="hallucination")
    result.results["tasks"]["pope"]["metrics"]["mean/f1"]["value"], result.run_dir
"""

from __future__ import annotations

import os
from typing import Any

# Strictly offline: the Hugging Face libraries read these when first imported, so they are set
# before any vlmeval module can import them. A user who sets them otherwise keeps their value.
for _switch in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_switch, "1")

__version__ = "0.1.0"
__all__ = ["evaluate", "RunResult", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy: `vlmeval --help` must not pay for numpy, PIL or torch.
    if name in ("evaluate", "RunResult"):
        from vlmeval import api

        return getattr(api, name)
    raise AttributeError(f"module 'vlmeval' has no attribute {name!r}")
