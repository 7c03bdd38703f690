import pytest


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Every test runs in its own directory, so default run dirs (runs/...) never collide."""
    monkeypatch.chdir(tmp_path)
