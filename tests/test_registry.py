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
