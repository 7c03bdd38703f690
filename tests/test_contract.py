"""The run-directory contract over every registered task, probe and transform (STYLE.md: tests
loop over the registries, so a new task is covered without a new test): an oracle run, then
tests/contract.py on it (rescore without the data, count tables, compare A A, gate A A)."""

from __future__ import annotations

import json

import pytest

from contract import check_contract
from data_fixtures import DATA_FIXTURES
from vlmeval.adapters.baselines import OracleAdapter
from vlmeval.probes import PROBES
from vlmeval.probes.variants import VariantProbe
from vlmeval.runner import RunConfig, run
from vlmeval.tasks.suites import resolve_task, task_names

LIMIT = 6
BUILT_IN = [n for n in task_names() if not resolve_task(n).needs_data]  # the rest: --data only
BASES = [n for n in BUILT_IN if not issubclass(resolve_task(n), VariantProbe)]
VARIANTS = [n for n in PROBES if issubclass(PROBES.get(n), VariantProbe)]
SPECS = [*BUILT_IN, *(f"{v}:{b}" for v in VARIANTS for b in BASES if b != "pope")]
WITH_DATA = [(task, label) for task in task_names() if resolve_task(task).reads_data
             for label in DATA_FIXTURES.get(task, {"(no fixture)": None})]


def test_every_task_that_reads_data_has_a_fixture():
    missing = [t for t, label in WITH_DATA if label == "(no fixture)"]
    assert not missing, f"add a --data fixture for {missing} in tests/data_fixtures.py"


@pytest.mark.parametrize("spec", SPECS)
def test_contract_on_the_built_in_world(spec, tmp_path):
    result = run(RunConfig(model="baseline:oracle", tasks=(spec,), limit=LIMIT,
                           out=tmp_path / "run"), OracleAdapter("baseline:oracle"))
    assert result.status == "finished"
    check_contract(result.run_dir, tmp_path)


@pytest.mark.parametrize("task,label", [w for w in WITH_DATA if w[1] != "(no fixture)"])
def test_contract_with_data(task, label, tmp_path):
    data, images = DATA_FIXTURES[task][label](tmp_path / "data")
    result = run(RunConfig(model="baseline:oracle", tasks=(task,), data={"": data}, images=images,
                           out=tmp_path / "run"), OracleAdapter("baseline:oracle"))
    assert result.status == "finished"
    check_contract(result.run_dir, tmp_path, data=[tmp_path / "data"])


class PeekingCountingTask(resolve_task("counting")):
    """A broken task: it records its data path and reads the data again while scoring (what
    POPE and CHAIR used to do)."""

    name = "peeking_counting"

    @classmethod
    def scoring_kwargs(cls, args):
        return {**super().scoring_kwargs(args), "data": args["data"]}

    def score(self, records, policy, seed):
        self.data_samples()
        return super().score(records, policy, seed)


class SideFileCountingTask(resolve_task("counting")):
    """A broken task: it reads an outside file (say, a table next to the data) while scoring."""

    name = "side_file_counting"
    side_file = None

    def score(self, records, policy, seed):
        type(self).side_file.read_text()
        return super().score(records, policy, seed)


@pytest.mark.parametrize("cls", [PeekingCountingTask, SideFileCountingTask])
def test_the_contract_fails_when_scoring_reads_outside_the_run_directory(cls, tmp_path, monkeypatch):
    from vlmeval.tasks.base import TASKS

    monkeypatch.setitem(TASKS._items, cls.name, cls)
    monkeypatch.setattr(SideFileCountingTask, "side_file", tmp_path / "side.txt", raising=False)
    (tmp_path / "side.txt").write_text("a table scoring should not need")
    data, _ = DATA_FIXTURES["counting"]["manifest"](tmp_path / "data")
    result = run(RunConfig(model="baseline:oracle", tasks=(cls.name,), data={"": data},
                           out=tmp_path / "run"), OracleAdapter("baseline:oracle"))
    expected = ("without its data failed" if cls is PeekingCountingTask
                else "read files outside the run directory: .*side.txt")
    with pytest.raises(AssertionError, match=expected):
        check_contract(result.run_dir, tmp_path, data=[tmp_path / "data"])


@pytest.mark.slow
@pytest.mark.parametrize("model", ["zoo:scenes-linear"])
def test_contract_on_the_main_job_of_a_shipped_model(model, tmp_path):
    """A real model's option scores through POPE's score mode: rescoring the run directory in
    another process, with another number of BLAS threads (another machine), gives its
    results.json bit for bit (ECE's bootstrap once summed through a BLAS matmul, whose last
    digits moved with the thread count: the CI bounds differed in the 16th digit)."""
    import os
    import subprocess
    import sys

    out = tmp_path / "run"
    for argv, threads in ((["run", "--model", model, "--suite", "hallucination", "--out", str(out),
                            "-q"], "1"), (["rescore", str(out)], "2")):
        if argv[0] == "rescore":
            original = (out / "results.json").read_text()
        done = subprocess.run([sys.executable, "-m", "vlmeval", *argv], capture_output=True,
                              text=True, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": threads})
        assert done.returncode == 0, done.stderr[-2000:]
    strip = lambda text: {k: v for k, v in json.loads(text).items() if k != "scored"}  # noqa: E731
    assert strip((out / "results.json").read_text()) == strip(original)
    check_contract(out, tmp_path)
