"""The Python API: the same run as the CLI, returning results and the run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from vlmeval.adapters import Adapter
from vlmeval.runner import RunConfig, RunResult, run


def evaluate(
    model: str | Adapter,
    *,
    suite: str | None = None,
    tasks: Sequence[str] = (),
    out: str | Path | None = None,
    limit: int | None = None,
    batch_size: int | str | None = None,
    seed: int = 0,
    policy: str = "official",
    overwrite: bool = False,
    max_error_rate: float = 0.0,
) -> RunResult:
    """Run a suite (or a list of tasks) on a model; resumes if `out` holds this run.

    model: a model spec (as on the command line) or an object following the Adapter protocol.
    max_error_rate: share of a task's requests that may fail; above it `result.status` is
    "incomplete" (failed requests are retried when the same call runs again).
    """
    adapter = None if isinstance(model, str) else model
    spec = model if isinstance(model, str) else model.name
    config = RunConfig(model=spec, suite=suite, tasks=tuple(tasks),
                       out=Path(out) if out is not None else None, limit=limit,
                       batch_size=batch_size, seed=seed, policy=policy, overwrite=overwrite,
                       max_error_rate=max_error_rate,
                       argv=("vlmeval.evaluate", spec))
    return run(config, adapter)


__all__ = ["evaluate", "RunResult"]
