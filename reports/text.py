"""Plain-text results table for the terminal (the HTML report lives beside it)."""

from __future__ import annotations

from typing import Any


def fmt(value: float | None) -> str:
    return "nan" if value is None else f"{value:.3f}"


def metric_line(group: str, name: str, m: dict[str, Any], width: int = 12) -> str:
    ci = f"[{fmt(m['ci_low'])}, {fmt(m['ci_high'])}]"
    return f"  {group:<{width}} {name:<20} {fmt(m['value']):>6}  {ci:<16} {m['n']:>6}"


def task_table(name: str, result: dict[str, Any]) -> str:
    head = result["metrics"][result["headline"]]
    sens = "; ".join(f"under {p}: {_signed(d.get(result['headline']))}"
                     for p, d in result["parser_sensitivity"].items())
    unparsed = ", ".join(f"{p} {c['unparsed']}" for p, c in result["parse"].items())
    lines = [
        f"{name} (v{result['version']}) · policy {result['policy']} · headline "
        f"{result['headline']} = {fmt(head['value'])} ({sens})",
        f"  {result['n_requests']} requests · {result['errors']} errors · unparsed: {unparsed}",
    ]
    lines.extend(f"  note: {note}" for note in result.get("notes", []))
    rows = [(*key.rpartition("/")[::2], m) for key, m in result["metrics"].items()]
    width = max([12, *(len(group) for group, _, _ in rows)])  # e.g. "question_type/how many"
    lines.append(f"  {'group':<{width}} {'metric':<20} {'value':>6}  {'95% CI':<16} {'n':>6}")
    lines.extend(metric_line(group or "-", metric, m, width) for group, metric, m in rows)
    return "\n".join(lines)


def _signed(delta: float | None) -> str:
    return "n/a" if delta is None else f"{delta:+.3f}"


def results_table(results: dict[str, Any]) -> str:
    return "\n\n".join(task_table(name, r) for name, r in results["tasks"].items())
