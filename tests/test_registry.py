import pytest

from vlmeval.adapters import resolve_model
from vlmeval.registry import Registry, UnknownName
from vlmeval.tasks.suites import resolve_task, suite_tasks, task_names


def test_register_get_and_names():
    r = Registry("widget")
    r.register("b")(2)
    r.register("a")(1)
    assert r.get("a") == 1 and r.names() == ["a", "b"] and "b" in r
    with pytest.raises(ValueError, match="twice"):
        r.register("a")(3)


def test_unknown_names_suggest_and_list():
    with pytest.raises(UnknownName) as e:
        resolve_model("baseline:orcale")
    assert "did you mean 'baseline:oracle'" in str(e.value)
    assert "baseline:always-yes" in str(e.value)
    with pytest.raises(UnknownName, match="did you mean 'pope'"):
        resolve_task("popee")
    with pytest.raises(UnknownName, match="did you mean 'hallucination'"):
        suite_tasks("halucination")
    with pytest.raises(UnknownName) as e:
        resolve_task("zzz")
    valid = ", ".join(task_names())
    assert "did you mean" not in str(e.value) and f"(valid: {valid})" in str(e.value)
    assert {"counting", "pope", "spatial", "vqa"} <= set(task_names())


def test_list_suites_shows_every_suite_with_its_tasks_and_limits(capsys):
    from vlmeval.cli import main
    from vlmeval.tasks.suites import SUITES, suite_limits

    assert main(["list", "suites"]) == 0
    out = capsys.readouterr().out
    for name in ("hallucination", "vision", "text", "ci", "all", "hallucination-bench", "vision-bench"):
        line = next(l for l in out.splitlines() if l.split()[:1] == [name])
        for task, limit in suite_limits(name).items():
            assert (f"{task} ({limit})" if limit else task) in line
    built_in = {n for n in task_names() if not resolve_task(n).needs_data}
    assert set(suite_tasks("all")) == built_in  # every task and probe with built-in data
    benchmarks = {*suite_tasks("hallucination-bench"), *suite_tasks("vision-bench")}
    assert benchmarks == set(task_names()) - built_in  # every benchmark in one of them
    assert set(suite_tasks("ci")) == set(suite_tasks("all")) and len(SUITES.names()) == 7


def test_suite_limits_apply_unless_limit_is_given(tmp_path):
    from vlmeval.runner import RunConfig, run

    result = run(RunConfig(model="baseline:oracle", suite="ci", out=tmp_path / "ci"))
    tasks = result.results["tasks"]
    assert tasks["captioning"]["n_requests"] == 40 and tasks["text_gen"]["n_requests"] == 139
    lower_is_better = ("chair", "blind")  # headlines chair_s and multimodal gain: 0 for the oracle
    assert all(t["metrics"][t["headline"]]["value"] == (0.0 if n in lower_is_better else 1.0)
               for n, t in tasks.items() if n != "captioning")
    result = run(RunConfig(model="baseline:oracle", suite="ci", limit=5, out=tmp_path / "five"))
    assert result.results["tasks"]["captioning"]["n_requests"] == 5
    assert result.results["tasks"]["text_gen"]["n_requests"] == 5
