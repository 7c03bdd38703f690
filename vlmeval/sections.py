"""Report sections a task declares with its results (results.json `sections`), so the pages
draw every task the same way and hold no task-specific code: a new task shows its own tables
and charts by listing them here.

Each section is a plain dict with a `kind`; metrics are named by results.json keys, and other
data by the name of a field of the task's results entry (`source`).
"""

from __future__ import annotations

from typing import Any, Sequence

Section = dict[str, Any]


def metric_grid(title: str, rows: Sequence[str], columns: Sequence[str]) -> Section:
    """A table of metric values: row r, column c shows metric "r/c"."""
    return {"kind": "metric_grid", "title": title, "rows": list(rows), "columns": list(columns)}


def bars(title: str, prefix: str, metric: str, label: str) -> Section:
    """A bar chart with CIs of the metrics "<prefix><group>/<metric>", one bar per group."""
    return {"kind": "bars", "title": title, "prefix": prefix, "metric": metric, "label": label}


def curves(title: str, source: str, x: Sequence[str], y: Sequence[str], xlabel: str,
           ylabel: str) -> Section:
    """Curves from result[source] = {series: {...}}: x and y are key paths inside a series."""
    return {"kind": "curves", "title": title, "source": source, "x": list(x), "y": list(y),
            "xlabel": xlabel, "ylabel": ylabel}


def matrix(title: str, source: str) -> Section:
    """A heat table from result[source] = {rows, columns, matrix}; the last column is labelled
    "unparsed" when result[source]["last_column"] says so."""
    return {"kind": "matrix", "title": title, "source": source}


def table(title: str, source: str) -> Section:
    """A table of result[source], a list of flat dicts (one row each)."""
    return {"kind": "table", "title": title, "source": source}


def details(title: str, prefix: str) -> Section:
    """Metrics whose names start with prefix, folded away from the main metric table."""
    return {"kind": "details", "title": title, "prefix": prefix}


def folded_prefixes(result: dict[str, Any]) -> tuple[str, ...]:
    return tuple(s["prefix"] for s in result.get("sections", []) if s["kind"] == "details")
