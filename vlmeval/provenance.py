"""Where a number came from: package versions and the git revision, recorded in run.json (what
ran) and results.json (what scored)."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path


def versions() -> dict[str, str | None]:
    def version(package: str) -> str | None:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    return {"python": platform.python_version(), "vlmeval": version("vlmeval"),
            "torch": version("torch"), "transformers": version("transformers"),
            "numpy": version("numpy"), "pillow": version("pillow"),
            # The scoring code's own dependencies (metrics, tests, caption scorers).
            "scikit-learn": version("scikit-learn"), "scipy": version("scipy"),
            "pycocoevalcap": version("pycocoevalcap"), "git_rev": _git_rev()}


def _git_rev() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None
