"""Scoring: results.json as a pure function of the run directory.

A task's results are a function of (its stored records, its run.json entry, the policy, the
seed): the task is rebuilt from its entry (`Task.from_entry`: recorded args and scoring inputs,
never a spec string and never its source data) and scores the records. The runner, `vlmeval
rescore`, compare, gate and the report all go through here, so a run directory copied to a
machine without the data, the images or the model scores identically.

Errors are not answers: a record whose request failed is counted per task and left out of
every metric's denominator. A task whose errored share exceeds the run's max_error_rate is
incomplete, and so is the run.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Mapping, Sequence

from vlmeval.errors import UserError
from vlmeval.parsing import POLICY_VERSIONS, check_policy
from vlmeval.schema import FORMAT_VERSION, is_answer
from vlmeval.store import shared_value
from vlmeval.tasks.base import Task


class IncompleteRunError(UserError):
    """The run directory has planned requests without a stored record."""


def task_from_entry(entry: Mapping[str, Any]) -> Task:
    """The task that scores a run.json task entry (its registry key, args and scoring inputs)."""
    from vlmeval.tasks.suites import resolve_task

    return resolve_task(entry["registry_key"]).from_entry(entry)


def score_task(task: Task, records: Sequence[dict[str, Any]], policy: str, seed: int,
               max_error_rate: float = 0.0,
               prices: Mapping[str, float] | None = None) -> dict[str, Any]:
    """One task's results.json entry; records in the run's (planned) order. prices: per
    million prompt / completion tokens (run.json's model entry), for a cost estimate."""
    answered = [r for r in records if is_answer(r)]
    errors = len(records) - len(answered)
    scores = {p: task.score(answered, p, seed) for p in task.policies}
    main = scores[policy]
    parse = {}
    for p in task.policies:
        statuses = Counter(task.read(r, p).status for r in records)
        parse[p] = {s: statuses[s] for s in ("ok", "unparsed", "error")}
    latencies = [r["latency_ms"] for r in answered]
    error_rate = errors / len(records) if records else 0.0
    return {
        "version": task.version,
        "policy": policy,
        "policy_version": POLICY_VERSIONS[policy],
        "headline": task.headline,
        "n_requests": len(records),
        "errors": errors,
        "error_rate": error_rate,
        "complete": error_rate <= max_error_rate,
        **_plain(main),
        "directions": {name: task.direction(name) for name in main.metrics},
        "companions": [m for m in task.companions if m in main.metrics],
        "parse": parse,
        "by_policy": {p: {"policy_version": POLICY_VERSIONS[p], "metrics": _plain(s)["metrics"]}
                      for p, s in scores.items() if p != policy},
        "parser_sensitivity": {
            p: {name: _delta(s.metrics[name].value, main.metrics[name].value)
                for name in main.metrics}
            for p, s in scores.items() if p != policy},
        "timing": {"model_ms_total": round(sum(latencies), 1),
                   "model_ms_mean": round(sum(latencies) / len(latencies), 3) if latencies else None},
        "usage": usage(records, prices),
    }


def usage(records: Iterable[Mapping[str, Any]],
          prices: Mapping[str, float] | None = None) -> dict[str, Any] | None:
    """Tokens the records report (served models), and their cost at `prices` per million
    tokens; None when no record reports usage. One pass: records may be a stream."""
    out: dict[str, Any] = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}
    for r in records:
        reported = r.get("usage")
        if reported:
            out["requests"] += 1
            for kind in ("prompt", "completion"):
                out[f"{kind}_tokens"] += reported.get(f"{kind}_tokens") or 0
    if not out["requests"]:
        return None
    if prices:
        out["cost"] = sum(prices.get(kind, 0.0) * out[f"{kind}_tokens"]
                          for kind in ("prompt", "completion")) / 1e6
        out["prices_per_million_tokens"] = dict(prices)
    return out


def _delta(other: float, main: float) -> float | None:
    d = other - main
    return None if d != d else float(d)


def _plain(score: dict[str, Any]) -> dict[str, Any]:
    out = dict(score)
    out["metrics"] = {k: m.to_json() for k, m in score["metrics"].items()}
    return out


def complete_records(entry: Mapping[str, Any], records: Sequence[dict[str, Any]],
                     where: str) -> list[dict[str, Any]]:
    """A task's records, checked complete against its planned count."""
    if len(records) != entry["n_requests"]:
        raise IncompleteRunError(
            f"{where}: {entry['name']} has {len(records)} stored records of "
            f"{entry['n_requests']} planned; finish the run first (run the same command again "
            f"to resume it)")
    return list(records)


def score_run(meta: Mapping[str, Any], records: Mapping[str, Sequence[dict[str, Any]]], *,
              policy: str | None = None, by: str = "run", where: str = "run directory",
              versions: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """results.json for a run: every task of run.json scored from its records.

    policy: the main parsing policy (default: the run's own); by: "run" or "rescore".
    """
    policy = check_policy(policy or meta["policy"])
    max_error_rate = meta.get("max_error_rate", 0.0)
    tasks = {}
    for entry in meta["tasks"]:
        task = task_from_entry(entry)
        result = score_task(task, complete_records(entry, records.get(entry["name"], []), where),
                            policy, meta["seed"], max_error_rate,
                            meta["model"].get("prices_per_million_tokens"))
        if entry["version"] != task.version:
            result["run_version"] = entry["version"]
            result.setdefault("notes", []).append(
                f"requests built by {entry['name']} version {entry['version']}, scored by "
                f"version {task.version}")
        tasks[entry["name"]] = result
    incomplete = [name for name, t in tasks.items() if not t["complete"]]
    return {
        "format_version": FORMAT_VERSION,
        "model": meta["model"]["spec"],
        "status": "incomplete" if incomplete else "finished",
        "scored": {"by": by, "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "policy": policy, "max_error_rate": max_error_rate,
                   "versions": dict(versions or {})},
        "tasks": tasks,
    }


def reread(entry: Mapping[str, Any], records: Iterable[dict[str, Any]], policy: str,
           share: bool = True) -> Iterator[dict[str, Any]]:
    """The records, each updated in place as it comes, with parsed, parse_status and verdict
    as the installed task reads them under `policy` (what the pages show and compare tests, so
    they agree with results.json after a rescore); the stored lines are not changed. share:
    equal verdicts are one object (records are read-only, as store.scan gives them), for
    records that are held; a stream's records are not."""
    task = task_from_entry(entry)
    verdicts: dict[Any, Any] = {}
    for r in records:
        parsed = task.read(r, policy)
        verdict = task.verdict(r, parsed).to_json() if is_answer(r) else None
        r.update(policy=policy, parsed=parsed.answer, parse_status=parsed.status,
                 verdict=shared_value(verdicts, verdict) if share else verdict)
        yield r
