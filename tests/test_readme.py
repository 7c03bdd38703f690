"""The README as a new user reads it: its examples marked `<!-- runnable -->` run as written
(`<!-- runnable (slow) -->` ones in the slow run, which CI does), and every file it names
exists."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"<!-- runnable( \(slow\))? -->\n```(bash|python)\n(.*?)```", re.S)
EXAMPLES = [pytest.param(lang, code, id=f"{lang}-{i}",
                         marks=[pytest.mark.slow] if slow else [])
            for i, (slow, lang, code) in enumerate(BLOCK.findall(README))]


def test_the_readme_marks_runnable_examples():
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("lang,code", EXAMPLES)
def test_runnable_readme_example(lang, code, tmp_path):
    """Runs in a fresh folder holding the repository's baselines, with `vlmeval` on PATH as
    after `source .venv/bin/activate`, outside GitHub Actions."""
    (tmp_path / "baselines").symlink_to(ROOT / "baselines")
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    command = ["bash", "-eo", "pipefail", "-c", code] if lang == "bash" else [sys.executable, "-c", code]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr


def test_every_file_the_readme_names_exists():
    named = set(re.findall(r"`((?:docs|baselines|bench|tests|vlmeval|tasks|probes|reports)/[\w./-]+\.\w+)`", README))
    named |= set(re.findall(r"\]\(((?:docs)/[\w./-]+)\)", README))
    assert named, "the pattern found nothing"
    missing = sorted(n for n in named if "<" not in n and not (ROOT / n).exists())
    assert not missing, f"the README names files that do not exist: {missing}"
