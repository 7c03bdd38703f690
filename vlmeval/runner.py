"""requests -> batches -> adapter -> store; resume; scoring into results.json.

Running the same command again resumes: requests already answered in samples/<task>.jsonl are
not recomputed, failed ones are retried (the newest line for a request wins), and each task's
file is compacted to one line per request in planned order, so a resumed run ends with the same
records and metrics as an uninterrupted one. Scoring reads only the run directory
(vlmeval/scoring.py).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from vlmeval import distributed
from vlmeval.adapters import Adapter, resolve_model
from vlmeval.adapters.base import Failed
from vlmeval.errors import ConfigError, DataError, Unavailable
from vlmeval.parsing import check_policy
from vlmeval.progress import Progress
from vlmeval.provenance import versions
from vlmeval.records import Prediction, Request, request_to_json
from vlmeval.schema import FORMAT_VERSION, SampleRecord, is_answer
from vlmeval.scoring import score_run
from vlmeval.store import RunDirError, RunStore
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
    # A number, "auto" (start at AUTO_BATCH and halve on out-of-memory) or None: the adapter's
    # own `default_batch_size`, else DEFAULT_BATCH.
    batch_size: int | str | None = None
    seed: int = 0
    policy: str = "official"
    overwrite: bool = False
    # Errored share of a task's requests above which the run ends `incomplete` (exit 3).
    max_error_rate: float = 0.0
    # Progress: bars on a terminal, else a line every progress_every seconds; quiet: none.
    quiet: bool = False
    progress_every: float = 30.0
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
    results: dict[str, Any] | None  # None on a torchrun rank other than 0 (rank 0 scores)

    @property
    def status(self) -> str:
        """finished, or incomplete when a task has more errored requests than allowed."""
        return self.results["status"]


def default_run_dir(config: RunConfig) -> Path:
    def clean(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9_.+]+", "-", text).strip("-")

    what = config.suite or "+".join(config.tasks)
    data = "".join(f"__{clean(p.stem or p.name)}" for p in config.data.values())
    # What else makes runs differ, so a run with another --limit gets a directory of its own.
    extra = "".join(part for part, given in ((f"__limit{config.limit}", config.limit),
                                             (f"__seed{config.seed}", config.seed),
                                             (f"__{config.policy}", config.policy != "official"))
                    if given)
    return Path("runs") / f"{clean(Path(config.model).name or config.model)}__{clean(what)}{data}{extra}"


def data_fingerprint(requests: Sequence[Request]) -> str:
    """sha256 of the plan as one JSON list (sorted keys), hashed request by request: the same
    value as hashing the whole list's text, without holding it (100k requests: 180 MB)."""
    h = hashlib.sha256(b"[")
    for i, r in enumerate(requests):
        h.update((", " if i else "").encode() + json.dumps(request_to_json(r), sort_keys=True).encode())
    h.update(b"]")
    return h.hexdigest()[:16]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


AUTO_BATCH = 64  # --batch-size auto starts here
DEFAULT_BATCH = 32  # without --batch-size, for an adapter that names no default_batch_size


class BatchSize:
    """The batch size a task runs with: fixed, or with --batch-size auto the largest that fits,
    found by halving from AUTO_BATCH whenever a batch runs out of memory (then kept)."""

    def __init__(self, requested: int | str) -> None:
        self.auto = requested == "auto"
        self.size = AUTO_BATCH if self.auto else int(requested)

    def shrink(self, failed: int) -> None:
        if self.auto:
            self.size = min(self.size, max(1, failed // 2))


def out_of_memory(error: BaseException) -> bool:
    """torch's OutOfMemoryError (CUDA, MPS) or an allocator's "out of memory" message."""
    return type(error).__name__ == "OutOfMemoryError" or "out of memory" in str(error).lower()


def predict(adapter: Adapter, batch: Sequence[Request],
            sizer: BatchSize | None = None) -> list[Prediction]:
    """Run one batch; a failing batch is retried request by request so one bad sample is
    recorded with its error and the rest go on (an adapter may also report a single request's
    failure as `Failed`). A batch that runs out of memory is split in halves (and with
    --batch-size auto the run's batch size shrinks to match). A model that stays unreachable
    (`Unavailable`) stops the run."""
    start = time.perf_counter()
    try:
        raws = adapter.generate(batch)
        scorable = [i for i, (r, raw) in enumerate(zip(batch, raws))
                    if r.options and not isinstance(raw, Failed)
                    ] if "score" in adapter.capabilities else []
        scores = adapter.score([batch[i] for i in scorable]) if scorable else []
        rendered = adapter.render(batch) if hasattr(adapter, "render") else [None] * len(batch)
    except Unavailable:
        raise
    except Exception as e:  # noqa: BLE001 - any model failure is recorded, never fatal
        if len(batch) > 1 and out_of_memory(e):
            if sizer is not None:
                sizer.shrink(len(batch))
            out, i = [], 0
            while i < len(batch):  # in halves, or at the (shrinking) size auto has found
                size = sizer.size if sizer is not None and sizer.auto else len(batch) // 2
                out += predict(adapter, batch[i:i + size], sizer)
                i += size
            return out
        if len(batch) > 1:
            return [p for r in batch for p in predict(adapter, [r])]
        return [Prediction(batch[0].request_id, None, error=f"{type(e).__name__}: {e}")]
    if len(raws) != len(batch) or len(scores) != len(scorable):
        raise AdapterContractError(
            f"adapter {adapter.name!r} returned {len(raws)} outputs and {len(scores)} scores for "
            f"{len(batch)} requests ({len(scorable)} scorable); it must return one per request")
    latency = (time.perf_counter() - start) * 1000.0 / len(batch)
    scored = dict(zip(scorable, scores))
    out = []
    for i, (r, raw, shown) in enumerate(zip(batch, raws, rendered)):
        failed = next((x for x in (raw, scored.get(i)) if isinstance(x, Failed)), None)
        if failed is not None:
            out.append(Prediction(r.request_id, None, error=failed.error, model_prompt=shown))
            continue
        logprobs = tuple(map(float, scored[i])) if i in scored else None
        out.append(Prediction(r.request_id, str(raw), logprobs, None, round(latency, 3), shown,
                              getattr(raw, "usage", None)))
    return out


def make_record(task: Task, request: Request, pred: Prediction, policy: str) -> dict[str, Any]:
    """The stored line for one request (vlmeval.schema.SampleRecord)."""
    fields = {
        "task": request.task, "sample_id": request.sample_id, "request_id": request.request_id,
        "variant": request.variant, "image": request.image.to_json() if request.image else None,
        "prompt": request.prompt, "model_prompt": pred.model_prompt,
        "target": request.target, "options": tuple(request.options),
        "meta": dict(request.meta), "raw": pred.raw, "policy": policy,
        "option_logprobs": pred.option_logprobs, "error": pred.error,
        "latency_ms": pred.latency_ms, "usage": dict(pred.usage) if pred.usage else None,
    }
    if pred.raw is None and pred.error is None:
        fields["error"] = "adapter returned no output"
    parsed = task.read(fields, policy)
    verdict = task.verdict(fields, parsed).to_json() if is_answer(fields) else None
    return SampleRecord(**fields, parsed=parsed.answer, parse_status=parsed.status,
                        verdict=verdict).to_json()


def _stored(store: RunStore, tasks: Sequence[Task]) -> int:
    return sum(sum(store.answers(t.name)[1].values()) for t in tasks)


def run_task(task: Task, plan: Sequence[Request], adapter: Adapter, store: RunStore,
             config: RunConfig, ranks: distributed.Ranks | None = None,
             copies: Mapping[str, tuple[str, str]] | None = None) -> int | None:
    """Compute every planned request without a stored answer (new ones, and failed ones again),
    then compact the task's file to one line per request in planned order. Under torchrun a
    rank computes its share and appends to its shard; rank 0 merges the shards afterwards.
    copies: the requests that repeat an earlier one (`identical_requests`): not computed here,
    `copy_answers` fills them in once every task is computed.
    Returns the batch size --batch-size auto settled on (None for a fixed size)."""
    writer = store if ranks is None else store.shard(ranks.rank)
    writer.samples_dir.mkdir(parents=True, exist_ok=True)
    # Which requests have an answer (ids and flags only: the records are not held here)
    order, answered, damaged = writer.answers(task.name, repair=True)
    fresh = not order and not damaged  # then every line is appended below, in plan order
    if damaged:
        print(f"vlmeval: {writer.samples_path(task.name)}: {len(damaged)} damaged line(s) "
              f"(first: line {damaged[0]}); their requests are computed again", file=sys.stderr)
    if ranks is not None:  # what rank 0 merged before the ranks started, then this rank's own
        answered = {**store.answers(task.name)[1], **answered}
    planned = {r.request_id for r in plan}
    stray = next((rid for rid in answered if rid not in planned), None)
    if stray is not None:
        raise RunDirError(f"{store.samples_path(task.name)}: request {stray!r} is not in this "
                         f"run's plan; pass --out to use another directory or --overwrite")
    # A served model keeps max_concurrency requests in flight within a batch: batches of at
    # least twice that keep it busy.
    sizer = BatchSize(config.batch_size)
    sizer.size = max(sizer.size, 2 * getattr(adapter, "max_concurrency", 0))
    computed = [r for r in plan if r.request_id not in copies] if copies else plan
    mine = computed if ranks is None else ranks.shard(computed, sizer.size)
    pending = [r for r in mine if not answered.get(r.request_id)]
    prefetch = getattr(adapter, "prefetch", None)
    label = task.name if ranks is None else f"{task.name} [rank {ranks.rank}/{ranks.world}]"
    with Progress(label, len(mine), len(mine) - len(pending), quiet=config.quiet,
                  every=config.progress_every) as progress:
        start = 0
        while start < len(pending):
            batch = pending[start:start + sizer.size]
            start += len(batch)
            if prefetch is not None:  # the next batch's inputs, built while this one computes
                prefetch(pending[start:start + sizer.size])
            preds = predict(adapter, batch, sizer)
            writer.append(task.name, [make_record(task, r, p, config.policy)
                                      for r, p in zip(batch, preds)])
            progress.update(len(batch), errors=sum(p.error is not None for p in preds))
    writer.sync(task.name)
    found = sizer.size if sizer.auto else None
    if ranks is not None or fresh or copies:  # fresh: one line per request in plan order
        return found  # (copies: copy_answers puts the file in plan order)
    order, _, damaged = store.answers(task.name)
    if damaged or order != [r.request_id for r in plan]:
        latest = {r["request_id"]: r for r in store.scan(task.name)[0]}
        store.compact(task.name, (latest[r.request_id] for r in plan))
    return found


def identical_requests(adapter: Adapter, tasks: Sequence[Task], plans: Mapping[str, Sequence[Request]]
                       ) -> dict[str, dict[str, tuple[str, str]]]:
    """For an adapter whose answer is a function of `answer_key(request)`: per task, each request
    that repeats an earlier request of the run (tasks in order, each in plan order), mapped to
    that first request's (task, request_id). POPE's three settings ask about the same present
    objects; the blind and image_swap probes ask POPE's questions again. The plan alone decides
    which request is first, so a run computes the same requests in the same batches whether it
    runs in one process or over torchrun's ranks."""
    key_of = getattr(adapter, "answer_key", None)
    copies: dict[str, dict[str, tuple[str, str]]] = {t.name: {} for t in tasks}
    if key_of is None:
        return copies
    first: dict[Any, tuple[str, str]] = {}
    for task in tasks:
        for r in plans[task.name]:
            source = first.setdefault(key_of(r), (task.name, r.request_id))
            if source != (task.name, r.request_id):
                copies[task.name][r.request_id] = source
    return copies


def copy_answers(tasks: Sequence[Task], plans: Mapping[str, Sequence[Request]],
                 copies: Mapping[str, Mapping[str, tuple[str, str]]], store: RunStore,
                 policy: str) -> int:
    """Store, for each request of `copies` without a stored answer, its first request's answer
    (raw output, option scores, error, latency, model prompt), read and judged as its own
    task's; each task's file is rewritten in plan order, atomically (an interruption leaves the
    old file, and the next run copies again). Returns the number of records written."""
    scanned: dict[str, tuple[list[str], dict[str, dict[str, Any]]]] = {}

    def records_of(name: str) -> tuple[list[str], dict[str, dict[str, Any]]]:
        if name not in scanned:  # file order (with repeats and damage) and the newest records
            lines, damaged = store.scan(name)
            scanned[name] = ([r["request_id"] for r in lines] + ["damaged"] * bool(damaged),
                             {r["request_id"]: r for r in lines})
        return scanned[name]

    written = 0
    for task in tasks:
        own = copies[task.name]
        if not own:
            continue
        order, stored = records_of(task.name)
        plan = plans[task.name]
        new = 0
        for r in plan:
            if r.request_id not in own or (r.request_id in stored and is_answer(stored[r.request_id])):
                continue
            source_task, source_id = own[r.request_id]
            src = records_of(source_task)[1][source_id]  # a first request: computed before this
            logprobs = src["option_logprobs"]
            pred = Prediction(r.request_id, src["raw"], tuple(logprobs) if logprobs is not None else None,
                              src["error"], src["latency_ms"], src["model_prompt"], src["usage"])
            stored[r.request_id] = make_record(task, r, pred, policy)
            new += 1
        if new or order != [r.request_id for r in plan]:
            store.compact(task.name, [stored[r.request_id] for r in plan])
        written += new
    return written


class TaskRecords(Mapping):
    """A task's records, read from the run directory when scoring asks for them (one task's
    records in memory at a time, not every task's)."""

    def __init__(self, store: RunStore, names: Sequence[str]) -> None:
        self.store, self.names = store, list(names)

    def __getitem__(self, name: str) -> list[dict[str, Any]]:
        if name not in self.names:
            raise KeyError(name)
        return self.store.load_records(name)

    def __iter__(self):
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


def merge_shards(store: RunStore, tasks: Sequence[Task],
                 plans: dict[str, list[Request]]) -> None:
    for task in tasks:
        store.merge_shards(task.name, [r.request_id for r in plans[task.name]])


def check_unique(task: Task, plan: Sequence[Request]) -> None:
    """Every request id once: records are matched to requests by id (a data file that repeats
    an id would otherwise leave a request that can never be stored)."""
    seen: set[str] = set()
    for r in plan:
        if r.request_id in seen:
            source = f"{task.data}: " if task.data is not None else ""
            raise DataError(f"{source}{task.name} has two items with id {r.request_id!r}; give "
                            f"each item its own id (or drop the id field to number them by line)")
        seen.add(r.request_id)


def run(config: RunConfig, adapter: Adapter | None = None) -> RunResult:
    """Run (or resume) every task of the config on its model and write the run directory.

    adapter: an already built adapter (Python API); by default built from config.model.
    """
    check_policy(config.policy)
    if config.batch_size not in ("auto", None) and (not isinstance(config.batch_size, int)
                                                    or config.batch_size < 1):
        raise ConfigError(f"--batch-size must be a whole number >= 1 or auto, got {config.batch_size!r}")
    if config.seed < 0:
        raise ConfigError(f"--seed must be a whole number >= 0, got {config.seed}")
    data = config.task_data()
    tasks = [make_task(name, config.task_options, limit=config.task_limit(name), seed=config.seed,
                       **({"data": data[name], "images": config.images} if name in data else {}))
             for name in config.task_names()]
    for option in config.task_options:
        if not any(option in type(t).accepts for t in tasks):
            raise ConfigError(f"--{option} applies to none of this run's tasks "
                              f"({', '.join(t.name for t in tasks)})")
    adapter = adapter or resolve_model(config.model, config.adapter, config.model_options)
    if config.batch_size is None:  # run.json records the size used
        config = replace(config, batch_size=getattr(adapter, "default_batch_size", DEFAULT_BATCH))
    if not 0.0 <= config.max_error_rate <= 1.0:
        raise ConfigError(f"--max-error-rate must be between 0 and 1, got {config.max_error_rate}")
    plans = {t.name: t.requests() for t in tasks}
    for task in tasks:
        check_unique(task, plans[task.name])
    store = RunStore(config.out or default_run_dir(config))
    ranks = distributed.from_env()
    if ranks is not None and ranks.rank != 0:
        return _run_rank(config, adapter, tasks, plans, store, ranks)
    with store.lock():  # one writer per run directory; --overwrite waits for none
        return _run_locked(config, adapter, tasks, plans, store, ranks)


def _run_rank(config: RunConfig, adapter: Adapter, tasks: list[Task],
              plans: dict[str, list[Request]], store: RunStore,
              ranks: distributed.Ranks) -> RunResult:
    """A torchrun rank other than 0: wait until rank 0 has written run.json and merged old
    shards, compute this rank's share of every task, hand over its counters."""
    ranks.barrier()
    copies = identical_requests(adapter, tasks, plans)
    for task in tasks:
        run_task(task, plans[task.name], adapter, store, config, ranks, copies[task.name])
    ranks.gather(adapter.counters())
    ranks.close()
    return RunResult(store.root, None)


def _run_locked(config: RunConfig, adapter: Adapter, tasks: list[Task],
                plans: dict[str, list[Request]], store: RunStore,
                ranks: distributed.Ranks | None = None) -> RunResult:
    if config.overwrite:
        store.clear()
    previous = store.read_run() if store.run_json.exists() else None
    if previous is None and any(store.samples_dir.glob("*.jsonl")):
        # run.json is written before the first sample: samples without it are not this run's.
        raise RunDirError(f"{store.root}: holds samples but no run.json, so which model and data "
                          f"they belong to is unknown; pass --overwrite to replace them or --out "
                          f"to use another directory")
    meta = {
        "format_version": FORMAT_VERSION,
        "status": "running",
        "argv": list(config.argv),
        "started": previous["started"] if previous else _now(),
        "finished": None,
        "seed": config.seed,
        "policy": config.policy,
        "max_error_rate": config.max_error_rate,
        "limit": config.limit,
        "batch_size": config.batch_size,
        "suite": config.suite,
        "versions": versions(),
        "model": {"spec": config.model, "adapter": type(adapter).__name__,
                  "fingerprint": adapter.fingerprint, **adapter.info()},
        "tasks": [{"name": t.name, "registry_key": type(t).name, "version": t.version,
                   "args": t.args(), "scoring": t.scoring_inputs(),
                   "data_fingerprint": data_fingerprint(plans[t.name]),
                   "n_requests": len(plans[t.name])} for t in tasks],
        "attempts": (previous or {}).get("attempts", []) + [
            {"started": _now(), "computed": None, "ranks": ranks.world if ranks else 1}],
    }
    store.check_identity(meta)
    store.samples_dir.mkdir(parents=True, exist_ok=True)
    store.write_run(meta)
    merge_shards(store, tasks, plans)  # left by an interrupted torchrun run, if any
    stored_before = _stored(store, tasks)
    if ranks is not None:
        ranks.barrier()  # the other ranks start from run.json and the merged samples
    counters: dict[str, Any] | None = None

    def record_attempt(status: str, results: dict[str, Any] | None = None) -> None:
        """results: the finished run's, whose answers are counted there (a rescan of the samples
        files held every record again, at the run's peak memory)."""
        meta.update(status=status)
        stored = (_stored(store, tasks) if results is None else
                  sum(t["n_requests"] - t["errors"] for t in results["tasks"].values()))
        meta["attempts"][-1]["computed"] = stored - stored_before
        meta["attempts"][-1]["counters"] = counters if counters is not None else adapter.counters()
        store.write_run(meta)

    # Any stop before the end (Ctrl-C, SIGTERM, a crash, while computing, scoring or writing
    # the report) leaves the run `interrupted`; the same command resumes it.
    try:
        copies = identical_requests(adapter, tasks, plans)
        for task in tasks:
            found = run_task(task, plans[task.name], adapter, store, config, ranks, copies[task.name])
            if found is not None:  # --batch-size auto: what fitted, per task
                meta["attempts"][-1].setdefault("batch_size_found", {})[task.name] = found
        if ranks is not None:  # every rank done: their counters, then their shards merged
            counters = distributed.summed(ranks.gather(adapter.counters()))
            ranks.close()
            merge_shards(store, tasks, plans)
        copied = copy_answers(tasks, plans, copies, store, config.policy)
        if any(copies.values()):
            meta["attempts"][-1]["answers_copied"] = copied
            if copied and not config.quiet:
                print(f"vlmeval: answers copied to requests that repeat an earlier request of "
                      f"the run (same image, prompt and options): {copied:,}", file=sys.stderr)
        plans.clear()  # every request is stored: scoring reads the records, one task at a time
        results = score_run(meta, TaskRecords(store, [t.name for t in tasks]),
                            where=str(store.root), versions=meta["versions"])
        store.write_results(results)
        meta["finished"] = _now()
        record_attempt(results["status"], results)  # before the report, which shows run.json
        from vlmeval.reports.render import write_report  # matplotlib: imported only when needed

        write_report(store.root)
    except BaseException:
        meta["finished"] = None
        try:
            record_attempt("interrupted")
        except RunDirError:
            pass  # e.g. the disk is full: run.json keeps "running", which resumes the same way
        raise
    return RunResult(store.root, results)
