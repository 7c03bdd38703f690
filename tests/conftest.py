import os

# One torch thread in tests and in the processes they start (read when torch is imported):
# on a busy machine two threads run many times slower than one.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Every test runs in its own directory, so default run dirs (runs/...) never collide."""
    monkeypatch.chdir(tmp_path)
