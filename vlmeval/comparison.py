"""Runs of the same tasks compared on the samples they share: what `vlmeval compare` shows
and `vlmeval gate` checks.

Each task's runs are compared on the requests they all hold (the values are then recomputed on
the shared requests, and a note says so). For every metric: the value per run, its delta
against the baseline and a paired bootstrap over shared units (images for most tasks: both runs
scored on the same resample; stats.paired_bootstrap). For per-sample correctness: an exact
McNemar test. Runs whose task version, data or parsing policy differ are not tested, and the
notes say which field differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from vlmeval.errors import ConfigError
from vlmeval.schema import REQUEST_FIELDS, is_answer
from vlmeval.sections import folded_prefixes
from vlmeval.scoring import task_from_entry
from vlmeval.stats import mcnemar, paired_bootstrap
from vlmeval.store import Run, load_run

ALPHA = 0.05
SIGN = {"higher": 1, "lower": -1, "neutral": 0}


def direction(result: dict[str, Any], metric: str) -> int:
    """+1 higher is better, -1 lower is better, 0 neither: as the task declared it in
    results.json."""
    return SIGN[result["directions"][metric]]


@dataclass
class TaskComparison:
    name: str
    comparable: bool
    notes: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)  # one per metric
    mcnemar: list[dict[str, Any]] = field(default_factory=list)  # one per non-baseline run
    shared: int = 0


def task_entry(run: Run, task: str) -> dict[str, Any]:
    return next(t for t in run.meta["tasks"] if t["name"] == task)


def differences(runs: Sequence[Run], task: str) -> list[str]:
    """What makes a task's runs not comparable: the task version that built the requests or
    that scored them, the scoring inputs that decide how answers score (CHAIR's synonyms), the
    parsing policy, and a shared request id that asks something else (request_fields). Runs
    that hold different numbers of requests (a --limit run and a full one) are comparable: they
    are compared on the requests they share."""
    base, base_result = task_entry(runs[0], task), runs[0].results["tasks"][task]
    base_inputs = task_from_entry(base).comparable_inputs()
    base_requests = {r["request_id"]: r for r in runs[0].records[task]}
    out = []
    for run in runs[1:]:
        entry, result = task_entry(run, task), run.results["tasks"][task]
        if entry["version"] != base["version"]:
            out.append(f"task version differs: {runs[0].label} {base['version']} vs "
                       f"{run.label} {entry['version']}")
            continue
        inputs = task_from_entry(entry).comparable_inputs()
        if inputs != base_inputs:
            keys = sorted(k for k in {*inputs, *base_inputs} if inputs.get(k) != base_inputs.get(k))
            out.append(f"scoring inputs differ ({', '.join(keys)}): {runs[0].label} vs {run.label}")
        for key, label in (("version", "scoring task version"), ("policy", "parsing policy")):
            if result[key] != base_result[key]:
                out.append(f"{label} differs: {runs[0].label} {base_result[key]} vs "
                           f"{run.label} {result[key]}")
        for record in run.records[task]:
            other = base_requests.get(record["request_id"])
            changed = other is not None and next(
                (f for f in REQUEST_FIELDS if other[f] != record[f]), None)
            if changed:
                out.append(f"request {record['request_id']!r} asks something else in "
                           f"{run.label} ({changed}: {_short(other[changed])} vs "
                           f"{_short(record[changed])}): the data differs")
                break
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def compare_task(runs: Sequence[Run], task: str, seed: int = 0) -> TaskComparison:
    """runs[0] is the baseline."""
    out = TaskComparison(task, comparable=True)
    diffs = differences(runs, task)
    if diffs:
        out.comparable = False
        out.notes = diffs + ["values are shown as each run computed them; no deltas or tests"]
        folded = folded_prefixes(runs[0].results["tasks"][task])
        out.rows = [{"metric": m, "breakdown": m.startswith(folded), "tests": [],
                     "values": [r.results["tasks"][task]["metrics"].get(m) for r in runs]}
                    for m in runs[0].results["tasks"][task]["metrics"]]
        return out
    # Errored requests are not answers: only requests every run answered are compared.
    by_id = [{rec["request_id"]: rec for rec in run.records[task] if is_answer(rec)} for run in runs]
    shared_ids = [i for i in by_id[0] if all(i in b for b in by_id[1:])]
    out.shared = len(shared_ids)
    sizes = [len(b) for b in by_id]
    subset = any(n != len(shared_ids) for n in sizes)
    if subset:
        out.notes.append(f"compared on the {len(shared_ids)} requests all runs hold (runs have "
                         f"{', '.join(map(str, sizes))}); values below are recomputed on those")
    result = runs[0].results["tasks"][task]
    policy = result["policy"]
    task_obj = task_from_entry(task_entry(runs[0], task))
    records = [[b[i] for i in shared_ids] for b in by_id]
    tables = [task_obj.count_table(rs, policy) for rs in records]
    if subset and tables[0] is not None:
        values = [t.bootstrap(seed) for t in tables]
        metrics = [{m: v.to_json() for m, v in vs.items()} for vs in values]
    else:
        metrics = [run.results["tasks"][task]["metrics"] for run in runs]
    tests = [paired_bootstrap(tables[0], t, seed=seed) if tables[0] is not None else {}
             for t in tables[1:]]
    for m in metrics[0]:
        if not all(m in ms for ms in metrics[1:]):
            continue
        row = {"metric": m, "breakdown": m.startswith(folded_prefixes(result)),
               "values": [ms[m] for ms in metrics],
               "direction": direction(result, m), "tests": []}
        for k, test in enumerate(tests, start=1):
            base, other = metrics[0][m]["value"], metrics[k][m]["value"]
            delta = None if base is None or other is None else other - base
            t = test.get(m)
            row["tests"].append({"delta": delta, "p": None if t is None or t.p != t.p else t.p,
                                 "test": "paired bootstrap" if t is not None else None})
        out.rows.append(row)
    correct = [[r["verdict"]["correct"] if r.get("verdict") else None for r in rs] for rs in records]
    for k in range(1, len(runs)):
        pairs = [(a, b) for a, b in zip(correct[0], correct[k]) if a is not None and b is not None]
        if pairs:
            out.mcnemar.append({"run": runs[k].label, **mcnemar(*zip(*pairs))})
    if tables[0] is None:
        out.notes.append("this task has no per-unit count table: only per-sample correctness is tested")
    return out


def label_runs(runs: Sequence[Run]) -> None:
    """Column names: the model spec, or the run directory where two runs share a spec."""
    specs = [r.meta["model"]["spec"] for r in runs]
    for run, spec in zip(runs, specs):
        run.label = spec if specs.count(spec) == 1 else run.name


def load_runs(paths: Sequence[Path], baseline: Path | None) -> list[Run]:
    ordered = list(paths)
    if baseline is not None:
        ordered = [baseline] + [p for p in ordered if Path(p).resolve() != Path(baseline).resolve()]
    if len(ordered) < 2:
        raise ConfigError("vlmeval compare needs at least two run directories (or one and --baseline)")
    runs = [load_run(p) for p in ordered]
    label_runs(runs)
    return runs


def comparison(runs: Sequence[Run], seed: int = 0) -> dict[str, Any]:
    task_sets = [set(r.results["tasks"]) for r in runs]
    shared = [t for t in runs[0].results["tasks"] if all(t in s for s in task_sets)]
    only = sorted(set().union(*task_sets) - set(shared))
    return {"runs": runs, "tasks": [compare_task(runs, t, seed) for t in shared], "only": only,
            "shared_tasks": shared}


