"""requests -> batches -> adapter -> store; resume; scoring into results.json.

Running the same command again resumes: requests already in samples/<task>.jsonl are not
recomputed, and results are computed from the stored records in planned order, so a resumed run
ends with the same metrics as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

from tqdm import tqdm

from vlmeval.adapters import Adapter, resolve_model
from vlmeval.errors import ConfigError
from vlmeval.parsing import POLICY_VERSIONS, check_policy
from vlmeval.records import Parsed, Prediction, Request, request_to_json
from vlmeval.store import FORMAT_VERSION, RunDirError, RunStore
from vlmeval.tasks.base import Task
from vlmeval.tasks.suites import make_task, suite_limits, suite_tasks


class AdapterContractError(RuntimeError):
    """An adapter broke the protocol (e.g. returned the wrong number of outputs)."""


@dataclass(frozen=True)
class RunConfig:
    model: str
    suite: str | None = None
    tasks: tuple[str, ...] = ()
    out: Path | None = None
    limit: int | None = None
    batch_size: int = 8
    seed: int = 0
    policy: str = "official"
    overwrite: bool = False
    adapter: str | None = None
    argv: tuple[str, ...] = field(default_factory=tuple)
    # --data: task name -> local file or folder ("" for the only task of the run).
    data: dict[str, Path] = field(default_factory=dict)
    images: Path | None = None
    # Options for the tasks that accept them (Task.accepts), e.g. {"synonyms": Path}.
    task_options: dict[str, Any] = field(default_factory=dict)
    # Options for the model loader: dtype, device, trust_remote_code, allow_pickle.
    model_options: dict[str, Any] = field(default_factory=dict)

    def task_names(self) -> tuple[str, ...]:
        if bool(self.suite) == bool(self.tasks):
            raise ConfigError("give exactly one of --suite NAME or --tasks a,b")
        return suite_tasks(self.suite) if self.suite else self.tasks

    def task_limit(self, name: str) -> int | None:
        """--limit if given, else the suite's limit for the task (None: every sample)."""
        if self.limit is not None or not self.suite:
            return self.limit
        return suite_limits(self.suite)[name]

    def task_data(self) -> dict[str, Path]:
        """--data per task name; a bare PATH needs a run of exactly one task."""
        names = self.task_names()
        data = dict(self.data)
        if "" in data:
            if len(names) != 1:
                raise ConfigError(f"--data {data['']} without a task name, but this run has "
                                  f"{len(names)} tasks ({', '.join(names)}); write --data TASK=PATH")
            data[names[0]] = data.pop("")
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ConfigError(f"--data names task {unknown[0]!r}, which this run does not include "
                              f"(tasks: {', '.join(names)})")
        if self.images is not None and not data:
            raise ConfigError("--images applies only with --data")
        return data


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    results: dict[str, Any]


def default_run_dir(config: RunConfig) -> Path:
    def clean(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9_.+]+", "-", text).strip("-")

    what = config.suite or "+".join(config.tasks)
    data = "".join(f"__{clean(p.stem or p.name)}" for p in config.data.values())
    return Path("runs") / f"{clean(Path(config.model).name or config.model)}__{clean(what)}{data}"


def data_fingerprint(requests: Sequence[Request]) -> str:
    blob = json.dumps([request_to_json(r) for r in requests], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def versions() -> dict[str, str | None]:
    def version(package: str) -> str | None:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    return {"python": platform.python_version(), "vlmeval": version("vlmeval"),
            "torch": version("torch"), "transformers": version("transformers"),
            "numpy": version("numpy"), "pillow": version("pillow"), "git_rev": _git_rev()}


def _git_rev() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def predict(adapter: Adapter, batch: Sequence[Request]) -> list[Prediction]:
    """Run one batch; a failing batch is retried request by request so one bad sample is
    recorded with its error and the rest go on."""
    start = time.perf_counter()
    try:
        raws = adapter.generate(batch)
        scorable = [i for i, r in enumerate(batch) if r.options] if "score" in adapter.capabilities else []
        scores = adapter.score([batch[i] for i in scorable]) if scorable else []
        rendered = adapter.render(batch) if hasattr(adapter, "render") else [None] * len(batch)
    except Exception as e:  # noqa: BLE001 - any model failure is recorded, never fatal
        if len(batch) > 1:
            return [p for r in batch for p in predict(adapter, [r])]
        return [Prediction(batch[0].request_id, None, error=f"{type(e).__name__}: {e}")]
    if len(raws) != len(batch) or len(scores) != len(scorable):
        raise AdapterContractError(
            f"adapter {adapter.name!r} returned {len(raws)} outputs and {len(scores)} scores for "
            f"{len(batch)} requests ({len(scorable)} scorable); it must return one per request")
    latency = (time.perf_counter() - start) * 1000.0 / len(batch)
    logprobs: dict[int, tuple[float, ...]] = {i: tuple(map(float, s)) for i, s in zip(scorable, scores)}
    return [Prediction(r.request_id, str(raw), logprobs.get(i), None, round(latency, 3), shown)
            for i, (r, raw, shown) in enumerate(zip(batch, raws, rendered))]


def make_record(task: Task, request: Request, pred: Prediction, policy: str) -> dict[str, Any]:
    record = {
        "task": request.task, "sample_id": request.sample_id, "request_id": request.request_id,
        "variant": request.variant, "image": request.image.to_json() if request.image else None,
        "prompt": request.prompt, "model_prompt": pred.model_prompt,
        "target": request.target, "options": list(request.options),
        "meta": dict(request.meta), "raw": pred.raw, "policy": policy,
        "option_logprobs": list(pred.option_logprobs) if pred.option_logprobs is not None else None,
    }
    parsed = Parsed(None, "error") if pred.raw is None else task.parse(pred.raw, policy)
    record.update(
        parsed=parsed.answer, parse_status=parsed.status,
        verdict=None if pred.raw is None else task.verdict(record, parsed).to_json(),
        error=pred.error, latency_ms=pred.latency_ms,
    )
    return record


def _stored(store: RunStore, tasks: Sequence[Task]) -> int:
    return sum(len(store.load_records(t.name)) for t in tasks)


def run_task(task: Task, plan: Sequence[Request], adapter: Adapter, store: RunStore,
             config: RunConfig) -> None:
    """Compute every planned request not yet stored."""
    stored = store.load_records(task.name)
    planned = {r.request_id for r in plan}
    stray = next((r["request_id"] for r in stored if r["request_id"] not in planned), None)
    if stray is not None:
        raise RunDirError(f"{store.samples_path(task.name)}: request {stray!r} is not in this "
                         f"run's plan; pass --out to use another directory or --overwrite")
    done = {r["request_id"] for r in stored}
    pending = [r for r in plan if r.request_id not in done]
    with tqdm(total=len(plan), initial=len(plan) - len(pending), desc=task.name, unit="req",
              file=sys.stderr, disable=None, dynamic_ncols=True) as bar:
        for start in range(0, len(pending), config.batch_size):
            batch = pending[start:start + config.batch_size]
            preds = predict(adapter, batch)
            store.append(task.name, [make_record(task, r, p, config.policy)
                                     for r, p in zip(batch, preds)])
            bar.update(len(batch))


def score_task(task: Task, plan: Sequence[Request], records: list[dict[str, Any]],
               config: RunConfig) -> dict[str, Any]:
    order = {r.request_id: i for i, r in enumerate(plan)}
    records = sorted(records, key=lambda r: order[r["request_id"]])
    missing = len(plan) - len(records)
    if missing:
        raise RuntimeError(f"{task.name}: {missing} planned requests have no stored prediction")
    scores = {p: task.score(records, p, config.seed) for p in task.policies}
    main = scores[config.policy]
    parse = {}
    for p in task.policies:
        statuses = ["error" if r["raw"] is None else task.parse(r["raw"], p).status for r in records]
        parse[p] = {s: statuses.count(s) for s in ("ok", "unparsed", "error")}
    latencies = [r["latency_ms"] for r in records if r["error"] is None]
    return {
        "version": task.version,
        "policy": config.policy,
        "policy_version": POLICY_VERSIONS[config.policy],
        "headline": task.headline,
        "n_requests": len(records),
        "errors": sum(r["error"] is not None for r in records),
        **_plain(main),
        "parse": parse,
        "by_policy": {p: {"policy_version": POLICY_VERSIONS[p], "metrics": _plain(s)["metrics"]}
                      for p, s in scores.items() if p != config.policy},
        "parser_sensitivity": {
            p: {name: _delta(s.metrics[name].value, main.metrics[name].value)
                for name in main.metrics}
            for p, s in scores.items() if p != config.policy},
        "timing": {"model_ms_total": round(sum(latencies), 1),
                   "model_ms_mean": round(sum(latencies) / len(latencies), 3) if latencies else None},
    }


def _delta(other: float, main: float) -> float | None:
    d = other - main
    return None if d != d else round(d, 6)


def _plain(score: dict[str, Any]) -> dict[str, Any]:
    out = dict(score)
    out["metrics"] = {k: m.to_json() for k, m in score["metrics"].items()}
    return out


def run(config: RunConfig, adapter: Adapter | None = None) -> RunResult:
    """Run (or resume) every task of the config on its model and write the run directory.

    adapter: an already built adapter (Python API); by default built from config.model.
    """
    check_policy(config.policy)
    if config.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {config.batch_size}")
    data = config.task_data()
    tasks = [make_task(name, config.task_options, limit=config.task_limit(name), seed=config.seed,
                       **({"data": data[name], "images": config.images} if name in data else {}))
             for name in config.task_names()]
    for option in config.task_options:
        if not any(option in type(t).accepts for t in tasks):
            raise ConfigError(f"--{option} applies to none of this run's tasks "
                              f"({', '.join(t.name for t in tasks)})")
    adapter = adapter or resolve_model(config.model, config.adapter, config.model_options)
    plans = {t.name: t.requests() for t in tasks}
    store = RunStore(config.out or default_run_dir(config))
    if config.overwrite:
        store.clear()
    previous = store.read_run() if store.run_json.exists() else None
    meta = {
        "format_version": FORMAT_VERSION,
        "status": "running",
        "argv": list(config.argv),
        "started": previous["started"] if previous else _now(),
        "finished": None,
        "seed": config.seed,
        "policy": config.policy,
        "limit": config.limit,
        "batch_size": config.batch_size,
        "suite": config.suite,
        "versions": versions(),
        "model": {"spec": config.model, "adapter": type(adapter).__name__,
                  "fingerprint": adapter.fingerprint, **adapter.info()},
        "tasks": [{"name": t.name, "version": t.version, "args": t.args(),
                   "data_fingerprint": data_fingerprint(plans[t.name]),
                   "n_requests": len(plans[t.name])} for t in tasks],
        "attempts": (previous or {}).get("attempts", []) + [{"started": _now(), "computed": None}],
    }
    store.check_identity(meta)
    store.samples_dir.mkdir(parents=True, exist_ok=True)
    store.write_run(meta)
    stored_before = _stored(store, tasks)
    try:
        for task in tasks:
            run_task(task, plans[task.name], adapter, store, config)
    except BaseException:
        meta.update(status="interrupted")
        meta["attempts"][-1]["computed"] = _stored(store, tasks) - stored_before
        meta["attempts"][-1]["counters"] = adapter.counters()
        store.write_run(meta)
        raise
    results = {
        "format_version": FORMAT_VERSION,
        "model": config.model,
        "tasks": {t.name: score_task(t, plans[t.name], store.load_records(t.name), config)
                  for t in tasks},
    }
    store.write_results(results)
    meta.update(status="finished", finished=_now())
    meta["attempts"][-1]["computed"] = _stored(store, tasks) - stored_before
    meta["attempts"][-1]["counters"] = adapter.counters()
    store.write_run(meta)
    from vlmeval.reports.render import write_report  # matplotlib: imported only when needed

    write_report(store.root)
    return RunResult(store.root, results)
