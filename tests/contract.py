"""The run-directory contract, checked on any finished run (tests/test_contract.py loops it over
every registered task, probe and transform).

A run directory is the truth: `rescore` of a copy whose source data has been moved away gives
the same results.json; while scoring, no file outside the run directory is opened (an audit
hook watches every open); each task's count table reproduces its stored metrics; `compare A A`
shows zero deltas and p = 1; `gate A --baseline A` exits 0.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import vlmeval

_watch: dict[str, object] = {"allowed": None, "opened": []}


_WRITES = os.O_WRONLY | os.O_RDWR | os.O_CREAT


def _hook(event: str, args: tuple) -> None:
    """Notes every file opened for reading outside the allowed roots (writing scratch files,
    such as the caption tokenizer's, is not reading data)."""
    if event != "open" or _watch["allowed"] is None or not isinstance(args[0], (str, Path)):
        return
    path, mode, flags = args
    if (isinstance(mode, str) and set(mode) & set("wax+")) or (isinstance(flags, int) and flags & _WRITES):
        return
    path = Path(path).resolve()
    if path == Path(tempfile.gettempdir()).resolve():
        return  # the temp folder itself, listed when a scratch file is made
    if not any(path.is_relative_to(root) for root in _watch["allowed"]):
        _watch["opened"].append(str(path))


sys.addaudithook(_hook)


def _code_roots() -> list[Path]:
    """Where code and its package data live: reading there is loading code, not data."""
    roots = {Path(sys.prefix), Path(sys.base_prefix), Path(vlmeval.__file__).resolve().parents[1],
             Path("/proc"), Path("/dev"), Path("/sys"), Path("/usr"), Path("/etc")}
    return [r.resolve() if r.exists() else r for r in roots]


@contextmanager
def only_reads_from(run_dir: Path) -> Iterator[list[str]]:
    """Collects files opened outside run_dir and the code roots while the block runs."""
    _watch["allowed"], _watch["opened"] = [Path(run_dir).resolve(), *_code_roots()], []
    try:
        yield _watch["opened"]
    finally:
        _watch["allowed"] = None


def _strip(results: dict) -> dict:
    """results.json without the record of when and by what it was scored."""
    return {k: v for k, v in results.items() if k != "scored"}


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def check_contract(run_dir: Path, work: Path, data: Sequence[Path] = ()) -> None:
    """AssertionError naming the first broken clause; `data`: the run's source files/folders
    (moved away while the copy is scored)."""
    from vlmeval.cli import main
    from vlmeval.comparison import comparison, label_runs
    from vlmeval.rescore import rescore
    from vlmeval.schema import is_answer
    from vlmeval.scoring import score_run, task_from_entry
    from vlmeval.store import RunStore, load_run

    original = json.loads((Path(run_dir) / "results.json").read_text())
    copy = Path(work) / f"copy-of-{Path(run_dir).name}"
    shutil.copytree(run_dir, copy)
    moved = [(Path(p), Path(p).with_name(Path(p).name + ".moved-away")) for p in data]
    for src, dst in moved:
        src.rename(dst)
    try:
        # Scoring (not the report, whose thumbnails are read from the images when they are
        # there) may open nothing outside the run directory.
        with only_reads_from(copy) as opened:
            try:
                store = RunStore(copy)
                meta = store.read_run()
                score_run(meta, {e["name"]: store.load_records(e["name"]) for e in meta["tasks"]})
                run = load_run(copy)
            except Exception as e:  # noqa: BLE001 - any failure breaks the contract
                raise AssertionError(f"scoring a copy without its data failed: "
                                     f"{type(e).__name__}: {e}") from e
        assert not opened, f"scoring read files outside the run directory: {opened[:3]}"
        rescore(copy)
        rescored = json.loads((copy / "results.json").read_text())
        assert rescored["scored"]["by"] == "rescore"
        assert _strip(rescored) == _strip(original), "rescore changed results.json"

        for entry in run.meta["tasks"]:
            name = entry["name"]
            result = original["tasks"][name]
            table = task_from_entry(entry).count_table(
                [r for r in run.records[name] if is_answer(r)], result["policy"])
            if table is not None:
                for metric, value in table.values().items():
                    stored = result["metrics"][metric]["value"]
                    assert _close(None if value != value else value, stored), (
                        f"{name} {metric}: count table {value} vs stored {stored}")

        a, b = load_run(copy), load_run(copy)
        label_runs([a, b])
        for task in comparison([a, b])["tasks"]:
            assert task.comparable, f"{task.name}: a run is not comparable with itself: {task.notes}"
            for row in task.rows:
                (test,) = row["tests"]
                assert test["delta"] in (0.0, None), f"{task.name} {row['metric']}: delta {test['delta']}"
                assert test["p"] in (1.0, None), f"{task.name} {row['metric']}: p {test['p']}"
            for m in task.mcnemar:
                assert m["a_only"] == m["b_only"] == 0 and m["p"] == 1.0
        code = main(["gate", str(copy), "--baseline", str(copy)])
        assert code == 0, f"gate A --baseline A exited {code}"
    finally:
        for src, dst in moved:
            dst.rename(src)
