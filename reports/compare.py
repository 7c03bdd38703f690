"""`vlmeval compare`: runs side by side on one page (vlmeval/comparison.py does the pairing and
the tests): an overview of the models, each task's metrics with deltas and p-values, and a
browser of the samples where the runs disagree.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Sequence

from markupsafe import Markup

from vlmeval.comparison import ALPHA, comparison, load_runs
from vlmeval.reports import charts
from vlmeval.reports.render import (environment, packed, page_script, sample_row, script_json,
                                    thumbnails, visible)
from vlmeval.store import Run, write_atomic


def disagreements(runs: Sequence[Run], tasks: Sequence[str]) -> list[dict[str, Any]]:
    """Samples where the runs' parsed answers or correctness differ (for free text without a
    verdict, where the raw outputs differ), with every run's output."""
    rows = []
    for task in tasks:
        by_id = [{rec["request_id"]: rec for rec in run.records[task]} for run in runs]
        for rid, first in by_id[0].items():
            if not all(rid in b for b in by_id[1:]):
                continue
            recs = [b[rid] for b in by_id]
            correct = [(r.get("verdict") or {}).get("correct") for r in recs]
            key = [(r.get("parsed"), c) if c is not None else r.get("raw") for r, c in zip(recs, correct)]
            if len(set(map(repr, key))) == 1:
                continue
            row = sample_row(first)
            row["image_ref"] = first.get("image")
            shown = [sample_row(r) for r in recs]  # once per record, not once per field
            row["runs"] = [{"run": run.label, **{k: one[k] for k in
                                                 ("raw", "parsed", "status", "correct", "outcome", "error")}}
                           for run, one in zip(runs, shown)]
            others = correct[1:]
            row["flags"] = {"correctness": len({c for c in correct if c is not None}) > 1,
                            "regression": correct[0] is True and any(c is False for c in others),
                            "improvement": correct[0] is False and any(c is True for c in others)}
            rows.append(row)
    return rows


def overview(runs: Sequence[Run]) -> list[dict[str, Any]]:
    out = []
    for run in runs:
        tasks = run.results["tasks"].values()
        total_ms = sum(t.get("timing", {}).get("model_ms_total", 0.0) for t in tasks)
        requests = sum(t["n_requests"] for t in tasks)
        out.append({"label": run.label, "path": str(run.path), "model": run.meta["model"],
                    "latency_ms": total_ms / requests if requests else None, "requests": requests})
    return out


def headline_chart(runs: Sequence[Run], task: str) -> Markup:
    result = runs[0].results["tasks"][task]
    metric = result["headline"]
    ms = [r.results["tasks"][task]["metrics"].get(metric) or {} for r in runs]
    return Markup(charts.bars([visible(r.label) for r in runs], [m.get("value") if m.get("value") is not None
                                                        else float("nan") for m in ms],
                              [m.get("ci_low") for m in ms], [m.get("ci_high") for m in ms],
                              f"{task}: {metric} (95% CI)", width=3.6))


def compare_html(runs: Sequence[Run], data: dict[str, Any]) -> str:
    comparable = [t.name for t in data["tasks"] if t.comparable]
    rows = disagreements(runs, comparable)
    refs = [row.pop("image_ref") for row in rows]
    images, left_out = thumbnails(refs)
    script, script_hash = page_script("browser.js")
    return environment().get_template("compare.html.j2").render(
        data=data, runs=runs, overview=overview(runs), alpha=ALPHA, script=script,
        script_hash=script_hash, samples=packed(rows), images=script_json(images),
        n_samples=len(rows), images_left_out=left_out,
        charts=[{"task": t, "svg": headline_chart(runs, t)} for t in data["shared_tasks"]])


def write_csv(runs: Sequence[Run], data: dict[str, Any], path: Path) -> None:
    """One line per task, metric and run: value, CI, n, and delta and p against the baseline."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["task", "metric", "run", "value", "ci_low", "ci_high", "n",
                         "delta_vs_baseline", "p_value", "test"])
        for t in data["tasks"]:
            for row in t.rows:
                for k, (run, m) in enumerate(zip(runs, row["values"])):
                    m = m or {}
                    test = row["tests"][k - 1] if k and t.comparable else {}
                    writer.writerow([t.name, row["metric"], run.label, m.get("value"), m.get("ci_low"),
                                     m.get("ci_high"), m.get("n"), test.get("delta"), test.get("p"),
                                     test.get("test")])


def write_compare(paths: Sequence[Path], out: Path, baseline: Path | None = None,
                  csv_path: Path | None = None, seed: int = 0) -> Path:
    runs = load_runs(paths, baseline)
    data = comparison(runs, seed)
    write_atomic(Path(out), compare_html(runs, data))
    if csv_path is not None:
        write_csv(runs, data, csv_path)
    return Path(out)
