import hashlib
import json

import pytest

import vlmeval
from helpers import FlakyAdapter
from vlmeval.adapters.baselines import BlindAdapter
from vlmeval.data import scenes
from vlmeval.probes.pope import PopeProbe
from vlmeval.records import request_to_json
from vlmeval.runner import AdapterContractError, data_fingerprint
from vlmeval.schema import FORMAT_VERSION, SAMPLE_FIELDS
from vlmeval.store import RunDirError
from vlmeval.tasks.suites import make_task



def metrics(result):
    return {k: v for k, v in result.results["tasks"]["pope"]["metrics"].items()}


def lines(run_dir):
    return [json.loads(x) for x in (run_dir / "samples" / "pope.jsonl").read_text().splitlines()]


def test_run_directory_matches_the_contract(tmp_path):
    result = vlmeval.evaluate("baseline:oracle", tasks=("pope",), limit=10, out=tmp_path / "r")
    run = json.loads((result.run_dir / "run.json").read_text())
    assert run["status"] == "finished" and run["format_version"] == FORMAT_VERSION
    for key in ("argv", "started", "finished", "seed", "versions", "model", "tasks"):
        assert key in run
    assert {"python", "torch", "transformers", "vlmeval", "git_rev"} <= set(run["versions"])
    assert {"spec", "adapter", "fingerprint", "params", "image_tokens"} <= set(run["model"])
    (task,) = run["tasks"]
    assert task["name"] == "pope" and task["n_requests"] == 10 * 18
    assert {"version", "args", "data_fingerprint"} <= set(task)
    # Hashed request by request, the fingerprint is the one of the whole plan's JSON text
    # (what earlier versions wrote: their run directories still resume).
    plan = make_task("pope", limit=10).requests()
    whole = json.dumps([request_to_json(r) for r in plan], sort_keys=True).encode()
    assert task["data_fingerprint"] == data_fingerprint(plan) == hashlib.sha256(whole).hexdigest()[:16]
    records = lines(result.run_dir)
    assert len(records) == 180 and all(set(r) == set(SAMPLE_FIELDS) for r in records)
    assert records[0]["image"]["sha256"] == scenes.scene_sha256("eval", 0)
    results = json.loads((result.run_dir / "results.json").read_text())
    for m in results["tasks"]["pope"]["metrics"].values():
        assert set(m) == {"value", "ci_low", "ci_high", "n"}


def test_planted_baselines_score_what_their_behaviour_implies():
    oracle = metrics(vlmeval.evaluate("baseline:oracle", tasks=("pope",)))
    for setting in ("random", "popular", "adversarial", "mean"):
        assert oracle[f"{setting}/accuracy"]["value"] == 1.0
    yes = metrics(vlmeval.evaluate("baseline:always-yes", tasks=("pope",)))
    for setting in ("random", "popular", "adversarial"):
        assert yes[f"{setting}/recall"]["value"] == 1.0
        assert yes[f"{setting}/yes_ratio"]["value"] == 1.0
        assert yes[f"{setting}/false_positive_rate"]["value"] == 1.0
        assert yes[f"{setting}/precision"]["value"] == 0.5  # balanced questions


def test_blind_baseline_scores_as_its_rule_implies():
    blind = metrics(vlmeval.evaluate("baseline:blind", tasks=("pope",)))
    frequent = scenes.frequent_categories()
    for setting in ("random", "popular", "adversarial"):
        reqs = [r for r in PopeProbe().requests() if r.meta["setting"] == setting]
        says_yes = [r.meta["object"] in frequent for r in reqs]
        negatives = [y for y, r in zip(says_yes, reqs) if r.target == "no"]
        correct = [y == (r.target == "yes") for y, r in zip(says_yes, reqs)]
        assert blind[f"{setting}/false_positive_rate"]["value"] == pytest.approx(
            sum(negatives) / len(negatives), abs=1e-6)
        assert blind[f"{setting}/accuracy"]["value"] == pytest.approx(
            sum(correct) / len(correct), abs=1e-6)
    # The prior shows: frequent absent objects are "seen" more often than random ones.
    assert blind["popular/false_positive_rate"]["value"] > blind["random/false_positive_rate"]["value"]


def test_resume_after_interrupt_equals_an_uninterrupted_run(tmp_path):
    full = vlmeval.evaluate(FlakyAdapter(), tasks=["pope"], limit=20, out=tmp_path / "full")
    out = tmp_path / "cut"
    first = FlakyAdapter(interrupt_after=5)
    with pytest.raises(KeyboardInterrupt):
        vlmeval.evaluate(first, tasks=["pope"], limit=20, out=out, batch_size=7)
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    assert len(lines(out)) == 35
    # A kill -9 mid-write leaves half a line: it must be dropped, not parsed or kept.
    with open(out / "samples" / "pope.jsonl", "a") as f:
        f.write('{"task": "pope", "request_id": "rand')
    second = FlakyAdapter()
    resumed = vlmeval.evaluate(second, tasks=["pope"], limit=20, out=out, batch_size=3)
    assert len(second.seen) == 360 - 35  # finished requests are not recomputed
    ids = [r["request_id"] for r in lines(out)]
    assert len(ids) == len(set(ids)) == 360
    assert metrics(resumed) == metrics(full)
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "finished" and [a["computed"] for a in run["attempts"]] == [35, 325]


def test_a_failing_sample_is_recorded_and_the_run_goes_on(tmp_path):
    result = vlmeval.evaluate(FlakyAdapter(fail_on="hourglass"), tasks=["pope"], limit=30,
                              out=tmp_path / "r")
    records = lines(result.run_dir)
    failed = [r for r in records if r["error"]]
    assert failed and all("hourglass" in r["prompt"] for r in failed)
    assert all(r["error"] == "RuntimeError: planted failure" and r["raw"] is None
               and r["parse_status"] == "error" for r in failed)
    assert all(r["raw"] is not None for r in records if "hourglass" not in r["prompt"])
    task = result.results["tasks"]["pope"]
    assert task["errors"] == len(failed) and task["parse"]["official"]["error"] == len(failed)


def test_a_directory_holding_another_run_is_refused(tmp_path):
    vlmeval.evaluate("baseline:blind", tasks=["pope"], limit=5, out=tmp_path / "r")
    with pytest.raises(RunDirError, match=r"different model.spec \(\"baseline:blind\" vs \"baseline:oracle\"\).*--overwrite"):
        vlmeval.evaluate("baseline:oracle", tasks=["pope"], limit=5, out=tmp_path / "r")
    with pytest.raises(RunDirError, match=r"different seed \(0 vs 1\)"):
        vlmeval.evaluate("baseline:blind", tasks=["pope"], limit=5, out=tmp_path / "r", seed=1)
    again = vlmeval.evaluate("baseline:oracle", tasks=["pope"], limit=5, out=tmp_path / "r",
                             overwrite=True)
    assert again.results["tasks"]["pope"]["metrics"]["mean/accuracy"]["value"] == 1.0


def test_an_adapter_returning_the_wrong_number_of_outputs_is_an_error(tmp_path):
    class Short(BlindAdapter):
        def generate(self, requests):
            return super().generate(requests)[:-1]

    with pytest.raises(AdapterContractError, match="one per request"):
        vlmeval.evaluate(Short("test:short"), tasks=["pope"], limit=2, out=tmp_path / "r")


def test_batch_size_does_not_change_results(tmp_path):
    a = vlmeval.evaluate("baseline:blind", tasks=["pope"], limit=15, out=tmp_path / "a", batch_size=1)
    b = vlmeval.evaluate("baseline:blind", tasks=["pope"], limit=15, out=tmp_path / "b", batch_size=64)
    assert metrics(a) == metrics(b)


def test_without_a_batch_size_the_adapters_own_default_is_used_and_recorded(tmp_path):
    class Sized(BlindAdapter):
        default_batch_size = 5

        def __init__(self, name):
            super().__init__(name)
            self.batches = []

        def generate(self, requests):
            self.batches.append(len(requests))
            return super().generate(requests)

    sized = Sized("test:sized")
    vlmeval.evaluate(sized, tasks=["pope"], limit=4, out=tmp_path / "a")  # more than 5 requests
    assert max(sized.batches) == 5
    assert json.loads((tmp_path / "a" / "run.json").read_text())["batch_size"] == 5
    vlmeval.evaluate("baseline:blind", tasks=["pope"], limit=4, out=tmp_path / "b")
    assert json.loads((tmp_path / "b" / "run.json").read_text())["batch_size"] == 32
    given = Sized("test:sized")
    vlmeval.evaluate(given, tasks=["pope"], limit=4, out=tmp_path / "c", batch_size=7)
    assert max(given.batches) == 7


class RunsOutOfMemory:
    """Answers every request with its target, but a batch of more than `fits` requests raises
    torch's out-of-memory error, as a GPU would."""

    name = "oom"
    fingerprint = "oom@1"
    capabilities = frozenset({"generate"})

    def __init__(self, fits):
        self.fits, self.batches = fits, []

    def generate(self, requests):
        import torch

        self.batches.append(len(requests))
        if len(requests) > self.fits:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [r.target for r in requests]

    def info(self):
        return {"params": 0, "image_tokens": 0}

    def counters(self):
        return {}


def test_batch_size_auto_halves_on_out_of_memory_and_records_what_fitted(tmp_path):
    from vlmeval.runner import RunConfig, run

    adapter = RunsOutOfMemory(fits=12)
    result = run(RunConfig(model="oom", tasks=("pope",), limit=30, batch_size="auto",
                           out=tmp_path / "auto"), adapter)
    tasks = result.results["tasks"]
    assert tasks["pope"]["errors"] == 0 and tasks["pope"]["metrics"]["mean/accuracy"]["value"] == 1.0
    # 64 -> 32 -> 16 -> 8 (the first batch halves three times), then batches of 8, none alone
    assert adapter.batches[:4] == [64, 32, 16, 8] and set(adapter.batches[4:-1]) == {8}
    assert 1 not in adapter.batches
    attempt = json.loads((tmp_path / "auto" / "run.json").read_text())["attempts"][-1]
    assert attempt["batch_size_found"] == {"pope": 8}
    # a fixed batch size that does not fit is split in halves, not run request by request
    fixed = RunsOutOfMemory(fits=12)
    run(RunConfig(model="oom", tasks=("pope",), limit=30, batch_size=32, out=tmp_path / "fixed"), fixed)
    assert fixed.batches[:7] == [32, 16, 8, 8, 16, 8, 8] and min(fixed.batches) > 1
