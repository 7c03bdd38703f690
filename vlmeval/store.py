"""The run directory: a contract that reports, gates and outside tools read.

    runs/<name>/run.json          what ran: argv, versions, model, tasks, status, attempts
    runs/<name>/samples/<t>.jsonl one line per request, appended as predictions arrive
    runs/<name>/results.json      metrics per task

Samples files are append-only and each batch is flushed and fsynced, so an interruption at any
point (Ctrl-C, kill -9, power loss) loses at most the batch in flight; a partial last line is
cut off when the run resumes. JSON files are replaced atomically.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from vlmeval.errors import UserError

FORMAT_VERSION = 1


class RunDirError(UserError):
    """The run directory cannot be used for this run (belongs to another run, or is damaged)."""


def write_json_atomic(path: Path, data: Any, indent: int | None = 2) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=indent, sort_keys=False, allow_nan=False,
                  separators=None if indent else (",", ":"))
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise RunDirError(f"{path}: not valid JSON ({e}); delete the file or the run directory") from None


class RunStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.samples_dir = self.root / "samples"

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    @property
    def results_json(self) -> Path:
        return self.root / "results.json"

    def samples_path(self, task: str) -> Path:
        return self.samples_dir / f"{task}.jsonl"

    def clear(self) -> None:
        """Remove what a run wrote (and nothing else the user put in the directory)."""
        for path in [self.run_json, self.results_json, *self.samples_dir.glob("*.jsonl")]:
            path.unlink(missing_ok=True)

    def check_identity(self, meta: dict[str, Any]) -> None:
        """Refuse to resume into a directory that holds a different run: same model
        fingerprint, tasks (versions, args, data fingerprints), policy and seed, or nothing."""
        if not self.run_json.exists():
            return
        old, new = identity(self.read_run()), identity(meta)
        if old == new:
            return
        for key in new:
            if old.get(key) != new[key]:
                raise RunDirError(
                    f"{self.root}: holds a run with a different {key} ({_short(old.get(key))} "
                    f"vs {_short(new[key])}); pass --out to use another directory or "
                    f"--overwrite to replace it")
        raise RunDirError(f"{self.root}: holds a different run; pass --out or --overwrite")


    def write_run(self, meta: dict[str, Any]) -> None:
        write_json_atomic(self.run_json, meta)

    def read_run(self) -> dict[str, Any]:
        return read_json(self.run_json)

    def write_results(self, results: dict[str, Any]) -> None:
        write_json_atomic(self.results_json, results)

    def load_records(self, task: str) -> list[dict[str, Any]]:
        """All complete lines of a task's samples file; a partial last line is cut off."""
        path = self.samples_path(task)
        if not path.exists():
            return []
        data = path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            # The last write was interrupted: drop its fragment so appends start on a clean line.
            with open(path, "r+b") as f:
                f.truncate(end)
                f.flush()
                os.fsync(f.fileno())
            data = data[:end]
        records = []
        for number, line in enumerate(data.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise RunDirError(
                    f"{path}:{number}: not a JSON line; the file is damaged, delete it to "
                    f"recompute that task") from None
        return records

    def append(self, task: str, records: Iterable[dict[str, Any]]) -> None:
        lines = "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in records)
        with open(self.samples_path(task), "a", encoding="utf-8") as f:
            f.write(lines)
            f.flush()
            os.fsync(f.fileno())


def identity(meta: dict[str, Any]) -> dict[str, Any]:
    """What makes two runs the same run (batch size, argv and timing do not)."""
    tasks = [{k: t.get(k) for k in ("name", "version", "args", "data_fingerprint")}
             for t in meta.get("tasks", [])]
    model = meta.get("model", {})
    # Ordered so a mismatch names the plainest differing field first.
    return {"model": {"spec": model.get("spec"), "fingerprint": model.get("fingerprint")},
            "seed": meta.get("seed"), "policy": meta.get("policy"), "tasks": tasks}


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass
class Run:
    """A run directory as the pages read it."""

    path: Path
    meta: dict[str, Any]
    results: dict[str, Any]
    records: dict[str, list[dict[str, Any]]]  # task -> samples lines
    label: str = ""  # its column name on a comparison page

    @property
    def name(self) -> str:
        return self.path.name


def load_run(path: Path) -> Run:
    """A finished run directory, or a baseline file saved from one (`vlmeval baseline save`)."""
    if Path(path).is_file():
        return load_baseline(Path(path))
    store = RunStore(Path(path))
    for needed in (store.run_json, store.results_json):
        if not needed.is_file():
            raise RunDirError(f"{needed}: missing; a report needs a finished run directory "
                              f"(run `vlmeval run ... --out {path}` to completion first)")
    meta, results = store.read_run(), read_json(store.results_json)
    return Run(store.root, meta, results,
               {task: store.load_records(task) for task in results["tasks"]})


BASELINE_FORMAT = "vlmeval-baseline"


def save_baseline(run: Run, out: Path) -> None:
    """One JSON file with the run's run.json, results.json and every sample line: enough for a
    gate to compare against it, paired tests included, without the run directory."""
    write_json_atomic(Path(out), {"format": BASELINE_FORMAT, "format_version": 1,
                                  "source": str(run.path), "run": run.meta,
                                  "results": run.results, "samples": run.records}, indent=None)


def load_baseline(path: Path) -> Run:
    data = read_json(path)
    if not isinstance(data, dict) or data.get("format") != BASELINE_FORMAT:
        raise RunDirError(f"{path}: not a baseline file (no \"format\": \"{BASELINE_FORMAT}\"); "
                          f"make one with `vlmeval baseline save RUN_DIR -o {path.name}`, or pass a run directory")
    return Run(path, data["run"], data["results"], data["samples"], label=path.stem)
