"""The run directory: a contract that reports, gates and outside tools read.

    runs/<name>/run.json          what ran: argv, versions, model, tasks, status, attempts
    runs/<name>/samples/<t>.jsonl one line per request, appended as predictions arrive
    runs/<name>/results.json      metrics per task

Samples files are append-only and each batch is flushed and fsynced, so an interruption at any
point (Ctrl-C, kill -9, power loss) loses at most the batch in flight. Only the runner writes:
a resuming run cuts off a partial last line and compacts the file (one line per request, the
newest, after failed requests were retried); readers (report, compare, gate, rescore) skip a
partial last line and, where a request has several lines, take the newest. JSON files are
replaced atomically. The fields of every file are in vlmeval/schema.py.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import time
from array import array
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from vlmeval.errors import UserError
from vlmeval.schema import (FORMAT_VERSION, SAMPLE_FIELDS, SchemaError, check_record, check_run,
                            is_answer)

__all__ = ["FORMAT_VERSION", "RunDirError", "RunStore", "Run", "load_run"]


# Appends reach the disk itself at least this often (and every compaction at once).
FSYNC_INTERVAL_S = 1.0


class RunDirError(UserError):
    """The run directory cannot be used for this run (belongs to another run, or is damaged)."""


class WriteError(RunDirError):
    """A file could not be written (disk full, no permission, a folder in the way)."""


def write_error(path: Path, e: OSError) -> WriteError:
    """One line naming the file, why, and (when the disk is full) the free space left."""
    if e.errno != errno.ENOSPC:
        return WriteError(f"{path}: cannot write ({e.strerror or e}); choose another place "
                          f"(--out, -o) or fix the folder, then run the same command again")
    try:
        free = f"{shutil.disk_usage(Path(path).parent).free / 1e6:,.1f} MB free there"
    except OSError:
        free = "free space unknown"
    return WriteError(f"{path}: cannot write ({e.strerror}; {free}); free some space or "
                      f"choose another place (--out, -o), then run the same command again: "
                      f"nothing finished is lost")


def write_atomic(path: Path, data: bytes | str | Iterable[str | bytes]) -> None:
    """Write a file so that it is either the old one or the whole new one (never a part, even
    on disk full or a kill); the temporary file is removed when the write fails. data: the
    contents, or its pieces in order (written as they come: the whole is never held)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            for piece in [data] if isinstance(data, (str, bytes)) else data:
                f.write(piece.encode("utf-8") if isinstance(piece, str) else piece)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise write_error(path, e) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any, indent: int | None = 2) -> None:
    text = json.dumps(data, indent=indent, sort_keys=False, allow_nan=False,
                      separators=None if indent else (",", ":"))
    write_atomic(path, text + "\n")


def read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunDirError(f"{path}: not valid UTF-8 JSON ({e}); delete the file or the run "
                          f"directory") from None


class RunStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.samples_dir = self.root / "samples"
        self._synced = float("-inf")  # when append last fsynced

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    @property
    def results_json(self) -> Path:
        return self.root / "results.json"

    def samples_path(self, task: str) -> Path:
        return self.samples_dir / f"{task}.jsonl"

    @property
    def shards_dir(self) -> Path:
        return self.samples_dir / "shards"

    def shard(self, rank: int) -> "RunStore":
        """The store a torchrun rank appends to: samples/shards/rank<r>/<task>.jsonl
        (vlmeval.distributed); rank 0 merges the shards into samples/<task>.jsonl."""
        store = RunStore(self.root)
        store.samples_dir = self.shards_dir / f"rank{rank}"
        return store

    def merge_shards(self, task: str, planned: Sequence[str]) -> None:
        """Fold every rank's shard of a task into samples/<task>.jsonl, one line per request,
        planned ids first in planned order, and remove the shards. An answer beats an error
        for the same request, and a later line beats an earlier one of the same kind. Damaged
        lines are left out (their requests are computed again)."""
        shards = sorted(self.shards_dir.glob(f"rank*/{task}.jsonl"))
        if not shards:
            return
        lines, _ = self.scan(task, repair=True)
        for path in shards:
            lines += self.shard(int(path.parent.name.removeprefix("rank"))).scan(task)[0]
        best: dict[str, dict[str, Any]] = {}
        for record in lines:
            old = best.get(record["request_id"])
            if old is None or is_answer(record) or not is_answer(old):
                best[record["request_id"]] = record
        known = set(planned)
        order = [i for i in planned if i in best] + [i for i in best if i not in known]
        self.samples_dir.mkdir(parents=True, exist_ok=True)
        self.compact(task, [best[i] for i in order])
        for path in shards:
            path.unlink()
        for folder in [*self.shards_dir.glob("rank*"), self.shards_dir]:
            try:
                folder.rmdir()  # only when empty: another task's shards may still be there
            except OSError:
                pass

    @contextmanager
    def lock(self) -> Iterator[None]:
        """One writer per run directory: an advisory lock on RUN_DIR/.lock, held while a run or
        rescore writes. A second writer is refused with the holder's pid and start time; the
        lock goes with its process, so a killed run leaves nothing to clean up."""
        self.root.mkdir(parents=True, exist_ok=True)
        handle = open(self.root / ".lock", "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise RunDirError(f"{self.root}: in use by {holder}; wait for it to finish, or pass "
                              f"--out to use another directory") from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} (since "
                         f"{datetime.now(timezone.utc).isoformat(timespec='seconds')})\n")
            handle.flush()
        except OSError:
            pass  # a full disk: the lock holds all the same, only the holder's name is missing
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def clear(self) -> None:
        """Remove what a run wrote (and nothing else the user put in the directory)."""
        for path in [self.run_json, self.results_json, *self.samples_dir.glob("*.jsonl"),
                     *self.shards_dir.glob("rank*/*.jsonl")]:
            path.unlink(missing_ok=True)

    def check_identity(self, meta: dict[str, Any]) -> None:
        """Refuse to resume into a directory that holds a different run: same model
        fingerprint, tasks (versions, args, data fingerprints), policy and seed, or nothing."""
        if not self.run_json.exists():
            return
        old, new = identity(self.read_run()), identity(meta)
        found = first_difference(old, new)
        if found is None:
            return
        where, before, now = found
        raise RunDirError(f"{self.root}: holds a run with a different {where} ({_short(before)} "
                          f"vs {_short(now)}); pass --out to use another directory or "
                          f"--overwrite to replace it")

    def write_run(self, meta: dict[str, Any]) -> None:
        write_json_atomic(self.run_json, meta)

    def read_run(self) -> dict[str, Any]:
        return check_run(read_json(self.run_json), str(self.run_json))

    def write_results(self, results: dict[str, Any]) -> None:
        write_json_atomic(self.results_json, results)

    def scan(self, task: str, repair: bool = False) -> tuple[list[dict[str, Any]], list[int]]:
        """Every complete, readable line of a task's samples file (checked against the schema),
        in file order, and the numbers of the lines that are not (damaged: not JSON, not a
        record). A partial last line (an interrupted write) is skipped; with repair (the runner
        resuming, and only it) it is also cut off so appends start on a clean line."""
        records: list[dict[str, Any]] = []
        bad: list[int] = []
        shared: dict[Any, Any] = {}
        for chunk in self._parsed(task, repair, bad, shared):
            records += chunk
        return records, bad

    def answers(self, task: str,
                repair: bool = False) -> tuple[list[str], dict[str, bool], list[int]]:
        """scan() without keeping the records: the request ids in file order, whether each
        id's newest record is an answer, and the damaged lines (the runner held every record
        beside its plan: resuming a finished 100k POPE run peaked at 314 MiB, now 274)."""
        order: list[str] = []
        answered: dict[str, bool] = {}
        bad: list[int] = []
        for chunk in self._parsed(task, repair, bad, None):
            for record in chunk:
                order.append(record["request_id"])
                answered[record["request_id"]] = is_answer(record)
        return order, answered, bad

    def _parsed(self, task: str, repair: bool, bad: list[int],
                shared: dict[Any, Any] | None) -> Iterator[list[dict[str, Any]]]:
        """scan's records a chunk at a time (damaged line numbers added to `bad`)."""
        path = self.samples_path(task)
        if not path.exists():
            return
        lines = _Lines(path)
        for chunk in lines.chunks():
            records: list[dict[str, Any]] = []
            _parse(chunk, path, records, bad, shared)
            yield records
        if repair and path.stat().st_size > lines.end:
            with open(path, "r+b") as f:
                f.truncate(lines.end)
                f.flush()
                os.fsync(f.fileno())

    def read_lines(self, task: str) -> list[dict[str, Any]]:
        """scan() for readers: a damaged line is an error naming it (the runner heals it)."""
        records, bad = self.scan(task)
        if bad:
            raise RunDirError(
                f"{self.samples_path(task)}:{bad[0]}: damaged line ({len(bad)} in the file: not "
                f"a sample record); run the same `vlmeval run` command again to recompute "
                f"those requests")
        return records

    def load_records(self, task: str) -> list[dict[str, Any]]:
        """One record per request: the newest line for each request id (a retried failure, or
        a line written twice), in the order the requests first appear."""
        return newest(self.read_lines(task))

    def stream_records(self, task: str, planned: int) -> Iterable[dict[str, Any]]:
        """load_records, read a chunk at a time where the file allows: a file of exactly one
        line per planned request (a finished run's: the runner compacts it so) is read in order
        and never held whole; any other file is load_records'. For readers that pass over the
        records once (the report); a damaged line is an error, as in read_lines."""
        path = self.samples_path(task)
        if not path.exists() or _Lines(path).count() != planned:
            return self.load_records(task)
        return self._streamed(task)

    def _streamed(self, task: str) -> Iterator[dict[str, Any]]:
        import numpy as np

        path = self.samples_path(task)
        ids = array("q")  # the request ids' hashes: 8 bytes a record, not the ids themselves
        bad: list[int] = []
        for records in self._parsed(task, False, bad, None):
            if bad:
                raise RunDirError(f"{path}:{bad[0]}: damaged line (not a sample record); run the "
                                  f"same `vlmeval run` command again to recompute it")
            ids.extend(hash(r["request_id"]) for r in records)
            yield from records
        if np.unique(np.frombuffer(ids, dtype=np.int64)).size != len(ids):  # equal ids?
            seen: set[str] = set()
            for record in self.read_lines(task):
                if record["request_id"] in seen:  # so some planned request has no line
                    raise RunDirError(
                        f"{path}: request {record['request_id']!r} stored twice and another not "
                        f"at all; run the same `vlmeval run` command again to complete the run")
                seen.add(record["request_id"])

    def compact(self, task: str, records: Iterable[dict[str, Any]]) -> None:
        """Replace a task's samples file by these records (atomically: an interruption leaves
        the old file or the new one, never a mix)."""
        write_atomic(self.samples_path(task), map(_line, records))

    def append(self, task: str, records: Iterable[dict[str, Any]]) -> None:
        """Append records. Once written and flushed they are the kernel's: a killed process
        (even kill -9) loses none. fsync, which guards against the machine itself going down,
        runs at most every FSYNC_INTERVAL_S per store (it cost 7% of the main job per batch)."""
        lines = "".join(_line(r) for r in records)
        try:
            with open(self.samples_path(task), "a", encoding="utf-8") as f:
                f.write(lines)
                f.flush()
                now = time.monotonic()
                if now - self._synced >= FSYNC_INTERVAL_S:
                    os.fsync(f.fileno())
                    self._synced = now
        except OSError as e:  # a partial line may remain: the resuming runner cuts it off
            raise write_error(self.samples_path(task), e) from None

    def sync(self, task: str) -> None:
        """fsync a task's samples file (a task's end: before anything is scored from it)."""
        path = self.samples_path(task)
        if path.exists():
            with open(path, "rb") as f:
                os.fsync(f.fileno())


SCAN_CHUNK = 512  # samples lines parsed together (see _parse)


class _Lines:
    """A samples file's complete, non-blank lines, numbered, SCAN_CHUNK at a time; a partial
    last line (an interrupted write) ends them. `end`: bytes up to the last complete line."""

    def __init__(self, path: Path) -> None:
        self.path, self.end = path, 0

    def numbered(self) -> Iterator[tuple[int, bytes]]:
        self.end = 0
        try:
            f = open(self.path, "rb")
        except OSError as e:  # e.g. a folder in its place: named here, not as the report's write
            raise RunDirError(f"{self.path}: cannot read ({e.strerror or e}); move it away, then "
                              f"run the same `vlmeval run` command again") from None
        with f:  # line by line: the file is never held whole
            for number, line in enumerate(f, 1):
                if not line.endswith(b"\n"):
                    break
                self.end += len(line)
                if line.strip():
                    yield number, line

    def chunks(self) -> Iterator[list[tuple[int, bytes]]]:
        chunk: list[tuple[int, bytes]] = []
        for item in self.numbered():
            chunk.append(item)
            if len(chunk) == SCAN_CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def count(self) -> int:
        return sum(1 for _ in self.numbered())
SHARED_FIELDS = ("task", "sample_id", "variant", "image", "prompt", "target", "options", "meta",
                 "raw", "policy", "parsed", "parse_status", "verdict")


def _frozen(value: Any) -> Any:
    """A hashable key for a JSON value that tells apart what == does not (1, 1.0 and true;
    the same keys in another order)."""
    if isinstance(value, dict):
        return dict, tuple((k, _frozen(v)) for k, v in value.items())
    if isinstance(value, list):
        return list, tuple(_frozen(v) for v in value)
    return type(value), value


def shared_value(shared: dict[Any, Any], value: Any) -> Any:
    """The object in `shared` equal to value (value itself, kept, the first time)."""
    return value if value is None else shared.setdefault(_frozen(value), value)


def _parse(chunk: list[tuple[int, bytes]], path: Path, records: list[dict[str, Any]],
           bad: list[int], shared: dict[Any, Any] | None) -> None:
    """Parse lines as one JSON list: json shares the key strings of one call's objects, so
    512 records hold one copy of each key where line-by-line parsing made 28 per record. The
    values of SHARED_FIELDS repeat across records (an image, a prompt, the options, a verdict,
    "official"): equal values are one object, shared by every record that holds them, so
    records are read-only; and they share one key table (_compact). A POPE record took 4.3
    KB, now 0.5 KB. shared None: records that are not held (a stream) are left as parsed, as
    saving their memory would only cost time. A chunk that does not parse is read line by
    line, which names the damaged lines."""
    if not chunk:
        return
    try:
        parsed = json.loads(b"[" + b",".join(line for _, line in chunk) + b"]")
    except (json.JSONDecodeError, UnicodeDecodeError):
        parsed = None
    if parsed is None or len(parsed) != len(chunk):  # e.g. a line holding two JSON values
        parsed = []
        for number, line in chunk:
            try:
                parsed.append(json.loads(line))
            except (json.JSONDecodeError, UnicodeDecodeError):
                parsed.append(_DAMAGED)
    for (number, _), data in zip(chunk, parsed):
        try:
            record = check_record(data, f"{path}:{number}") if data is not _DAMAGED else None
        except SchemaError:
            record = None
        if record is None:
            bad.append(number)
            continue
        if shared is not None:
            for name in SHARED_FIELDS:
                record[name] = shared_value(shared, record[name])
            record = _compact(record)
        records.append(record)


_DAMAGED = object()


class _Record:
    """Never used itself: the __dict__ of its instances are records whose keys, set in
    SAMPLE_FIELDS order, live in one table all of them share (CPython's key-sharing
    dictionaries, PEP 412). They are plain dicts; a POPE record takes 264 bytes where a dict
    with its own keys took 472 (100k records: 20 MB)."""


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    record = _Record().__dict__
    for name in SAMPLE_FIELDS:
        if name in data:
            record[name] = data[name]
    if len(record) != len(data):  # a field this version does not know: kept, after the others
        record.update(data)
    return record


def newest(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last record for each request id, in the order the ids first appear."""
    out: dict[str, dict[str, Any]] = {}
    for record in records:
        out[record["request_id"]] = record
    return list(out.values())


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n"


def first_difference(old: Any, new: Any, where: str = "") -> tuple[str, Any, Any] | None:
    """(path, old value, new value) of the first place two JSON values differ, e.g.
    ("task pope.args.limit", 20, 50); None when equal."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*new, *(k for k in old if k not in new)]:
            found = first_difference(old.get(key), new.get(key), f"{where}.{key}" if where else key)
            if found:
                return found
        return None
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for a, b in zip(old, new):
            found = first_difference(a, b, where)
            if found:
                return found
        return None
    return None if old == new else (where, old, new)


def identity(meta: dict[str, Any]) -> dict[str, Any]:
    """What makes two runs the same run (batch size, argv and timing do not). Tasks are keyed
    by name, so a difference reads "task pope.args.limit"."""
    tasks = {f"task {t.get('name')}": {k: t.get(k) for k in ("version", "args", "scoring",
                                                             "data_fingerprint")}
             for t in meta.get("tasks", [])}
    model = meta.get("model", {})
    # Ordered so a mismatch names the plainest differing field first.
    # option_scores: how an adapter turns log-probs into option scores (Hugging Face: summed
    # surface forms); a run scored one way is not resumed another.
    return {"model": {"spec": model.get("spec"), "fingerprint": model.get("fingerprint"),
                      "option_scores": model.get("option_scores")},
            "seed": meta.get("seed"), "policy": meta.get("policy"), "tasks": list(tasks),
            **tasks}


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass
class Run:
    """A run directory as the pages read it."""

    path: Path
    meta: dict[str, Any]
    results: dict[str, Any]
    records: dict[str, list[dict[str, Any]]] | None  # task -> samples lines; None: not held
    label: str = ""  # its column name on a comparison page

    @property
    def name(self) -> str:
        return self.path.name

    def task_records(self, task: str) -> Iterable[dict[str, Any]]:
        """A task's records as results.json read them: those held, or (a run loaded with
        records=False) read from the run directory as they are iterated, for one pass."""
        if self.records is not None:
            return self.records[task]
        from vlmeval.scoring import reread

        entry = next(e for e in self.meta["tasks"] if e["name"] == task)
        return reread(entry, RunStore(self.path).stream_records(task, entry["n_requests"]),
                      self.results["tasks"][task]["policy"], share=False)


def load_run(path: Path, records: bool = True) -> Run:
    """A finished run directory, or a baseline file saved from one (`vlmeval baseline save`).
    records=False: a run directory's records are not loaded; Run.task_records reads them as
    they are used (the report: a 100k-sample run's records are never all in memory)."""
    if Path(path).is_file():
        return load_baseline(Path(path))
    if Path(path).suffix == ".json":
        raise RunDirError(f"{path}: no such baseline file; make one from a finished run with "
                          f"`vlmeval baseline save RUN_DIR -o {path}`")
    store = RunStore(Path(path))
    for needed in (store.run_json, store.results_json):
        if not needed.is_file():
            raise RunDirError(f"{needed}: missing; this needs a finished run directory (run "
                              f"`vlmeval run ... --out {path}` to completion first) or a "
                              f"baseline file")
    meta, results = store.read_run(), read_json(store.results_json)
    return _run(store.root, meta, results, {entry["name"]: store.load_records(entry["name"])
                                            for entry in meta["tasks"]} if records else None)


def _run(path: Path, meta: dict[str, Any], results: dict[str, Any],
         records: dict[str, list[dict[str, Any]]] | None, label: str = "") -> Run:
    """A Run whose records are read as results.json was scored (its policy, installed code)."""
    from vlmeval.scoring import reread

    where = f"{path} (results)" if Path(path).is_file() else f"{Path(path) / 'results.json'}"
    if not isinstance(results, dict) or not isinstance(results.get("tasks"), dict):
        raise RunDirError(f"{where}: no 'tasks' object; rescore the run (`vlmeval rescore "
                          f"RUN_DIR`)")
    for entry in meta["tasks"]:
        if entry["name"] not in results["tasks"]:
            raise RunDirError(f"{where}: no task {entry['name']!r} although run.json plans it; "
                              f"rescore the run (`vlmeval rescore RUN_DIR`)")
        if records is not None:
            records[entry["name"]] = list(reread(entry, records.get(entry["name"], []),
                                                 results["tasks"][entry["name"]]["policy"]))
    return Run(path, meta, results, records, label=label)


BASELINE_FORMAT = "vlmeval-baseline"


def save_baseline(run: Run, out: Path) -> None:
    """One JSON file with the run's run.json, results.json and every sample line: enough for a
    gate to compare against it, paired tests included, without the run directory."""
    write_json_atomic(Path(out), {"format": BASELINE_FORMAT, "format_version": FORMAT_VERSION,
                                  "source": str(run.path), "run": run.meta,
                                  "results": run.results, "samples": run.records}, indent=None)


def load_baseline(path: Path) -> Run:
    data = read_json(path)
    if not isinstance(data, dict) or data.get("format") != BASELINE_FORMAT:
        raise RunDirError(f"{path}: not a baseline file (no \"format\": \"{BASELINE_FORMAT}\"); "
                          f"make one with `vlmeval baseline save RUN_DIR -o {path.name}`, or pass a run directory")
    if data.get("format_version") != FORMAT_VERSION:
        raise RunDirError(f"{path}: baseline format_version {data.get('format_version')!r}, this "
                          f"vlmeval reads {FORMAT_VERSION}; save it again from its run directory "
                          f"(`vlmeval baseline save`) or rerun that run with this version")
    missing = [k for k in ("run", "results", "samples") if not isinstance(data.get(k), dict)]
    if missing:
        raise RunDirError(f"{path}: baseline file without its {missing[0]!r} object; save it again "
                          f"with `vlmeval baseline save RUN_DIR -o {path.name}`")
    meta = check_run(data["run"], f"{path} (run)")
    samples = {task: [check_record(r, f"{path} (samples of {task}, record {i})")
                      for i, r in enumerate(records)] for task, records in data["samples"].items()}
    return _run(path, meta, data["results"], samples, label=path.stem)
