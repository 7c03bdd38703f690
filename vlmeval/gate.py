"""`vlmeval gate`: fail a CI job when a run regressed against a baseline.

A spec (YAML) lists checks; each names a task and a metric (shell-style globs allowed) and
says what fails:

    alpha: 0.05                 # significance level of the paired tests (0.05)
    checks:
      - task: pope
        metric: mean/f1
        direction: higher       # higher | lower (default: the metric's own, e.g. CHAIR lower)
        floor: 0.80             # absolute bound: below it fails (above it, for `lower`)
        max_drop: 0.02          # worsening against the baseline allowed
        significant: true       # a drop beyond max_drop fails only if it is significant
                                # (alone, without max_drop: any significant drop fails)
      - task: "*"
        metric: "*"
        exact: true             # any change, either way, fails (pinned numbers)
        tolerance: 0.0001       # what counts as a change for exact (default 1e-9)

Significance: a paired bootstrap on the samples both runs hold when the task has per-unit
counts (comparison.compare_task), else CI-based (the baseline's value outside the run's 95% CI).
Without --spec every task's headline metric is checked with max_drop 0 and significant: true.
A gate refuses (exit 2) runs whose task versions or parsing policies differ, or whose shared
requests ask different things (comparison.differences), and incomplete runs, and names them. Exit codes: 0 pass, 1 regression, 2 usage or data error.
"""

from __future__ import annotations

import fnmatch
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmeval.comparison import ALPHA, compare_task, differences, direction, label_runs
from vlmeval.errors import ConfigError
from vlmeval.store import Run

CHECK_KEYS = {"task", "metric", "direction", "floor", "max_drop", "significant", "exact", "tolerance"}
EXACT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Check:
    task: str
    metric: str
    direction: str | None = None
    floor: float | None = None
    max_drop: float | None = None
    significant: bool = False
    exact: bool = False
    tolerance: float = EXACT_TOLERANCE


@dataclass
class Outcome:
    task: str
    metric: str
    passed: bool
    baseline: float | None
    value: float | None
    delta: float | None
    p: float | None
    test: str | None
    reason: str

    def line(self) -> str:
        p = "" if self.p is None else f", p={self.p:.4f} {self.test}"
        delta = "n/a" if self.delta is None else f"{self.delta:+.4f}"
        return (f"{'PASS' if self.passed else 'FAIL'} {self.task} {self.metric}: "
                f"{_fmt(self.baseline)} -> {_fmt(self.value)} (delta {delta}{p}): {self.reason}")


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def load_spec(path: Path | None) -> tuple[list[Check], float]:
    """Checks and alpha from a YAML file; None: every headline metric, no significant drop."""
    if path is None:
        return [Check("*", "<headline>", max_drop=0.0, significant=True)], ALPHA
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the gate spec ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("checks"), list) or not data["checks"]:
        raise ConfigError(f"{path}: needs a `checks:` list (each with task: and metric:); see "
                          f"`vlmeval gate --help`")
    unknown = set(data) - {"checks", "alpha"}
    if unknown:
        raise ConfigError(f"{path}: unknown field {sorted(unknown)[0]!r} (valid: checks, alpha)")
    checks = []
    for i, item in enumerate(data["checks"]):
        where = f"{path}: checks[{i}]"
        if not isinstance(item, dict) or "task" not in item or "metric" not in item:
            raise ConfigError(f"{where}: needs task: and metric: (globs allowed, e.g. metric: mean/f1)")
        bad = set(item) - CHECK_KEYS
        if bad:
            raise ConfigError(f"{where}: unknown field {sorted(bad)[0]!r} (valid: {', '.join(sorted(CHECK_KEYS))})")
        if item.get("direction") not in (None, "higher", "lower"):
            raise ConfigError(f"{where}: direction must be higher or lower, got {item['direction']!r}")
        for key in ("floor", "max_drop", "tolerance"):
            if item.get(key) is not None and not isinstance(item[key], (int, float)):
                raise ConfigError(f"{where}: {key} must be a number, got {item[key]!r}")
        if item.get("max_drop") is not None and item["max_drop"] < 0:
            raise ConfigError(f"{where}: max_drop must be >= 0, got {item['max_drop']}")
        significant = bool(item.get("significant", False))
        max_drop = item.get("max_drop", 0.0 if significant else None)  # significant: any drop
        checks.append(Check(str(item["task"]), str(item["metric"]), item.get("direction"),
                            item.get("floor"), max_drop, significant,
                            bool(item.get("exact", False)), item.get("tolerance", EXACT_TOLERANCE)))
    alpha = data.get("alpha", ALPHA)
    if not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ConfigError(f"{path}: alpha must be in (0, 1), got {alpha!r}")
    return checks, float(alpha)


def resolve(checks: list[Check], baseline: Run, run: Run) -> list[tuple[Check, str, str]]:
    """(check, task, metric) for every metric each check names in both runs; a check that names
    nothing is an error (a typo would otherwise pass silently)."""
    tasks = [t for t in baseline.results["tasks"] if t in run.results["tasks"]]
    out: dict[tuple[str, str], Check] = {}
    for check in checks:
        matched = False
        for task in (t for t in tasks if fnmatch.fnmatchcase(t, check.task)):
            result = baseline.results["tasks"][task]
            names = ([result["headline"]] if check.metric == "<headline>" else
                     [m for m in result["metrics"] if fnmatch.fnmatchcase(m, check.metric)])
            for m in names:
                if m in run.results["tasks"][task]["metrics"]:
                    out[(task, m)] = check  # a later check on the same metric wins
                    matched = True
        if not matched:
            raise ConfigError(f"gate check task={check.task!r} metric={check.metric!r} matches no "
                              f"metric both runs have (tasks in both: {', '.join(tasks) or 'none'})")
    return [(check, task, m) for (task, m), check in out.items()]


def evaluate_gate(run: Run, baseline: Run, checks: list[Check], alpha: float = ALPHA,
                  seed: int = 0) -> list[Outcome]:
    targets = resolve(checks, baseline, run)
    label_runs([baseline, run])  # names in messages: the model spec, else the directory
    for which in (run, baseline):
        for task in dict.fromkeys(t for _, t, _ in targets):
            result = which.results["tasks"][task]
            if not result["complete"]:
                raise ConfigError(
                    f"cannot gate {task}: {which.label} ({which.path}) is incomplete, "
                    f"{result['errors']} of {result['n_requests']} requests failed (above its "
                    f"--max-error-rate); resume it with the same command so they are retried")
    for task in dict.fromkeys(t for _, t, _ in targets):
        diffs = differences([baseline, run], task)
        if diffs:
            raise ConfigError(f"cannot gate {task}: {'; '.join(diffs)}; rerun one of them so they "
                              f"match, or save a new baseline")
    compared = {task: compare_task([baseline, run], task, seed)
                for task in dict.fromkeys(t for _, t, _ in targets)}
    out = []
    for check, task, metric in targets:
        row = next((r for r in compared[task].rows if r["metric"] == metric), None)
        if row is None:  # runs of different sizes: only metrics with per-sample counts recompute
            raise ConfigError(f"cannot gate {task} {metric}: the runs hold different requests and "
                              f"this metric cannot be recomputed on the {compared[task].shared} "
                              f"they share; gate runs of the same size, or check other metrics")
        base, now = row["values"][0], row["values"][1]
        test = row["tests"][0]
        sign = {"higher": 1, "lower": -1}.get(check.direction or "",
                                             direction(baseline.results["tasks"][task], metric) or 1)
        out.append(judge(check, task, metric, base, now, test, alpha, sign))
    return out


def judge(check: Check, task: str, metric: str, base: dict[str, Any], now: dict[str, Any],
          test: dict[str, Any], alpha: float, sign: int) -> Outcome:
    """sign: +1 when higher is better, -1 when lower is."""
    b, v = base.get("value"), now.get("value")
    delta = None if b is None or v is None else v - b
    p, how = test.get("p"), test.get("test")

    def outcome(passed: bool, reason: str) -> Outcome:
        return Outcome(task, metric, passed, b, v, delta, p, how, reason)

    if b is None and v is None and check.floor is None:
        return outcome(True, "undefined in both runs (n=0): nothing to compare")
    if v is None:
        return outcome(False, "the run has no value for this metric (n=0 or undefined)")
    if check.exact:
        if b is None or abs(v - b) > check.tolerance:
            return outcome(False, "pinned value changed; update the baseline on purpose if intended")
        return outcome(True, "unchanged")
    if check.floor is not None and (v - check.floor) * sign < 0:
        bound = "floor" if sign > 0 else "ceiling"
        return outcome(False, f"beyond the absolute {bound} {check.floor}")
    if check.max_drop is not None and delta is not None:
        drop = -delta * sign  # > 0: worse
        if drop > check.max_drop + EXACT_TOLERANCE:
            if not check.significant:
                return outcome(False, f"worse by {drop:.4f} (> max_drop {check.max_drop})")
            if p is None:  # no paired test: CI-based
                how = "CI"
                lo, hi = now.get("ci_low"), now.get("ci_high")
                if lo is not None and hi is not None and not lo <= b <= hi:
                    return Outcome(task, metric, False, b, v, delta, None, how,
                                   f"worse by {drop:.4f} (> max_drop {check.max_drop}) and the "
                                   f"baseline lies outside the run's 95% CI")
                return Outcome(task, metric, True, b, v, delta, None, how,
                               f"worse by {drop:.4f}, within the run's 95% CI (not significant)")
            if p < alpha:
                return outcome(False, f"worse by {drop:.4f} (> max_drop {check.max_drop}), "
                                      f"significant (p < {alpha})")
            return outcome(True, f"worse by {drop:.4f} but not significant (p >= {alpha})")
    return outcome(True, "within bounds")


# --- outputs -------------------------------------------------------------------------------------

def markdown(outcomes: list[Outcome], run: Run, baseline: Run) -> str:
    failed = [o for o in outcomes if not o.passed]
    head = (f"## vlmeval gate: {'FAILED' if failed else 'passed'}\n\n"
            f"{run.meta['model']['spec']} (`{run.path}`) against baseline `{baseline.path}`: "
            f"{len(outcomes) - len(failed)} of {len(outcomes)} checks passed.\n\n")
    rows = ["| | task | metric | baseline | run | delta | p | why |", "|---|---|---|---|---|---|---|---|"]
    for o in sorted(outcomes, key=lambda o: o.passed):
        p = "" if o.p is None else f"{o.p:.4f} ({o.test})"
        delta = "" if o.delta is None else f"{o.delta:+.4f}"
        rows.append(f"| {'✅' if o.passed else '❌'} | {o.task} | `{o.metric}` | {_fmt(o.baseline)} | "
                    f"{_fmt(o.value)} | {delta} | {p} | {o.reason} |")
    return head + "\n".join(rows) + "\n"


_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _xml_text(text: str) -> str:
    """Characters XML 1.0 cannot hold (control characters from a data label) shown as \\xNN."""
    return _XML_ILLEGAL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def junit(outcomes: list[Outcome]) -> bytes:
    """One testcase per checked metric; a regression is a <failure>."""
    failures = sum(not o.passed for o in outcomes)
    suites = ET.Element("testsuites", tests=str(len(outcomes)), failures=str(failures))
    suite = ET.SubElement(suites, "testsuite", name="vlmeval.gate", tests=str(len(outcomes)),
                          failures=str(failures), errors="0", skipped="0")
    for o in outcomes:
        case = ET.SubElement(suite, "testcase", classname=_xml_text(f"vlmeval.gate.{o.task}"),
                             name=_xml_text(o.metric))
        if not o.passed:
            failure = ET.SubElement(case, "failure", message=_xml_text(o.reason), type="regression")
            failure.text = _xml_text(o.line())
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True)
