"""`vlmeval gate` and `vlmeval baseline save`: exit codes, messages, JUnit and markdown."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET

import pytest

import vlmeval
from helpers import OracleWrongOn
from vlmeval.cli import main

SPEC = """
checks:
  - task: pope
    metric: mean/f1
    max_drop: 0.0
    significant: true
  - task: pope
    metric: random/accuracy
    floor: 0.25
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("gate")
    common = dict(tasks=["pope", "counting"], limit=30)
    return {name: vlmeval.evaluate(adapter, out=root / name, **common).run_dir for name, adapter in
            (("base", "baseline:oracle"), ("rerun", "baseline:oracle"), ("worse", OracleWrongOn(120)),
             ("one", OracleWrongOn(1)))}


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "gate.yaml"
    path.write_text(SPEC)
    return path


def test_an_unchanged_rerun_passes(runs, spec, capsys):
    assert main(["gate", str(runs["rerun"]), "--baseline", str(runs["base"]), "--spec", str(spec)]) == 0
    assert "gate: passed: 2 of 2 checks passed" in capsys.readouterr().out


def test_a_significant_f1_drop_fails_and_names_metric_values_delta_and_p(runs, spec, capsys, tmp_path):
    code = main(["gate", str(runs["worse"]), "--baseline", str(runs["base"]), "--spec", str(spec),
                 "--junit", str(tmp_path / "j.xml"), "--markdown", str(tmp_path / "m.md")])
    out = capsys.readouterr().out
    assert code == 1
    results = json.loads((runs["worse"] / "results.json").read_text())
    f1 = results["tasks"]["pope"]["metrics"]["mean/f1"]["value"]
    line = next(line for line in out.splitlines() if line.startswith("FAIL pope mean/f1"))
    assert f"1.0000 -> {f1:.4f}" in line and f"delta {f1 - 1:+.4f}" in line
    assert "p=0.0010 paired bootstrap" in line  # (0 + 1) / (2000 + 1) x 2
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert int(suite.get("tests")) == len(cases) == 2
    failed = [c for c in cases if c.find("failure") is not None]
    assert int(suite.get("failures")) == len(failed) == 1 and failed[0].get("name") == "mean/f1"
    md = (tmp_path / "m.md").read_text()
    assert md.startswith("## vlmeval gate: FAILED") and "| ❌ | pope | `mean/f1` |" in md


def test_a_drop_on_one_sample_is_not_significant(runs, spec, capsys):
    assert main(["gate", str(runs["one"]), "--baseline", str(runs["base"]), "--spec", str(spec)]) == 0
    assert "not significant" in capsys.readouterr().out


def test_without_significance_any_drop_beyond_max_drop_fails(runs, tmp_path, capsys):
    spec = tmp_path / "strict.yaml"
    spec.write_text("checks:\n  - {task: pope, metric: mean/f1, max_drop: 0.0}\n")
    assert main(["gate", str(runs["one"]), "--baseline", str(runs["base"]), "--spec", str(spec)]) == 1


def test_exact_checks_fail_on_any_change_either_way(runs, tmp_path):
    spec = tmp_path / "pin.yaml"
    spec.write_text("checks:\n  - {task: '*', metric: '*', exact: true}\n")
    assert main(["gate", str(runs["rerun"]), "--baseline", str(runs["base"]), "--spec", str(spec)]) == 0
    # the better run against the worse baseline: an improvement also changes a pinned number
    assert main(["gate", str(runs["base"]), "--baseline", str(runs["one"]), "--spec", str(spec)]) == 1


def test_a_baseline_file_keeps_paired_tests(runs, spec, tmp_path, capsys):
    saved = tmp_path / "baseline.json"
    assert main(["baseline", "save", str(runs["base"]), "-o", str(saved)]) == 0
    shutil.rmtree(tmp_path / "unused", ignore_errors=True)
    assert main(["gate", str(runs["worse"]), "--baseline", str(saved), "--spec", str(spec)]) == 1
    assert "paired bootstrap" in capsys.readouterr().out


def test_default_spec_checks_every_headline(runs, capsys):
    assert main(["gate", str(runs["worse"]), "--baseline", str(runs["base"])]) == 1
    out = capsys.readouterr().out
    assert "pope mean/f1" in out and "counting exact_accuracy" in out


def test_runs_that_differ_in_task_version_are_refused(runs, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(runs["rerun"], other)
    meta = json.loads((other / "run.json").read_text())
    meta["tasks"][0]["version"] = "2"
    (other / "run.json").write_text(json.dumps(meta))
    assert main(["gate", str(other), "--baseline", str(runs["base"])]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot gate pope: task version differs: base 1 vs other 2" in err


@pytest.mark.parametrize("text, needle", [
    ("checks: []\n", "needs a `checks:` list"),
    ("checks:\n  - {task: pope}\n", "checks[0]: needs task: and metric:"),
    ("checks:\n  - {task: pope, metric: mean/f1, maxdrop: 1}\n", "unknown field 'maxdrop'"),
    ("checks:\n  - {task: pope, metric: mean/f1, direction: up}\n", "direction must be higher or lower"),
    ("checks:\n  - {task: pop, metric: mean/f1}\n", "matches no metric both runs have"),
    ("checks: [\n", "not valid YAML"),
])
def test_bad_specs_are_one_line_errors(runs, tmp_path, capsys, text, needle):
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    assert main(["gate", str(runs["rerun"]), "--baseline", str(runs["base"]), "--spec", str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err, err


def test_a_missing_baseline_is_a_usage_error(runs, tmp_path, capsys):
    assert main(["gate", str(runs["rerun"]), "--baseline", str(tmp_path / "nope")]) == 2
    assert "run.json: missing" in capsys.readouterr().err


def test_a_floor_fails_on_its_own(runs, tmp_path, capsys):
    spec = tmp_path / "floor.yaml"
    spec.write_text("checks:\n  - {task: pope, metric: random/accuracy, floor: 0.5}\n")
    assert main(["gate", str(runs["worse"]), "--baseline", str(runs["base"]), "--spec", str(spec)]) == 1
    assert "beyond the absolute floor 0.5" in capsys.readouterr().out


def test_metrics_without_paired_counts_use_the_ci(runs, tmp_path, capsys):
    """POPE's ROC AUC has no per-unit count table: a significant drop is judged by the CI."""
    spec = tmp_path / "auc.yaml"
    spec.write_text("checks:\n  - {task: pope, metric: random/roc_auc, max_drop: 0, significant: true}\n")
    assert main(["gate", str(runs["worse"]), "--baseline", str(runs["base"]), "--spec", str(spec)]) == 1
    assert "outside the run's 95% CI" in capsys.readouterr().out


def test_exact_passes_a_metric_undefined_in_both_runs(runs, tmp_path):
    from vlmeval.gate import Check, judge

    empty = {"value": None, "ci_low": None, "ci_high": None, "n": 0}
    outcome = judge(Check("chair", "chair_i", exact=True), "chair", "chair_i", empty, empty, {}, 0.05, -1)
    assert outcome.passed
    outcome = judge(Check("chair", "chair_i", max_drop=0.0), "chair", "chair_i", {"value": 0.2},
                    empty, {}, 0.05, -1)
    assert not outcome.passed and "no value" in outcome.reason
