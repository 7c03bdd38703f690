"""Interruptions of a real process: kill -9 and Ctrl-C (SIGINT) mid-run, then resume."""

import json
import signal
import subprocess
import shutil
import sys
import time
from pathlib import Path

import pytest

SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import vlmeval
from helpers import SlowBlindAdapter
vlmeval.evaluate(SlowBlindAdapter({delay}), tasks=["pope"], limit=40, out={out!r}, batch_size=4)
"""


def start(out: Path, delay: float) -> subprocess.Popen:
    code = SCRIPT.format(tests=str(Path(__file__).parent), delay=delay, out=str(out))
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def wait_for_lines(path: Path, n: int, proc: subprocess.Popen) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise TimeoutError(path)


def lines(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "samples" / "pope.jsonl").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_interrupted_process_resumes_to_the_same_results(tmp_path, sig):
    reference = start(tmp_path / "ref", delay=0.0)
    assert reference.wait(60) == 0, reference.communicate()

    out = tmp_path / "cut"
    proc = start(out, delay=0.01)
    wait_for_lines(out / "samples" / "pope.jsonl", 100, proc)
    proc.send_signal(sig)
    proc.wait(30)
    done = len(lines(out))
    assert 100 <= done < 720
    if sig == signal.SIGINT:
        assert json.loads((out / "run.json").read_text())["status"] == "interrupted"

    resumed = start(out, delay=0.0)
    assert resumed.wait(60) == 0, resumed.communicate()
    ids = [r["request_id"] for r in lines(out)]
    assert len(ids) == len(set(ids)) == 720  # nothing duplicated, nothing missing
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "finished" and run["attempts"][-1]["computed"] == 720 - done
    got = json.loads((out / "results.json").read_text())["tasks"]["pope"]["metrics"]
    want = json.loads((tmp_path / "ref" / "results.json").read_text())["tasks"]["pope"]["metrics"]
    assert got == want


CLI = """
import sys
sys.path.insert(0, {tests!r})
import vlmeval.runner
from helpers import SlowBlindAdapter
vlmeval.runner.resolve_model = lambda *args: SlowBlindAdapter({delay})
from vlmeval.cli import main
raise SystemExit(main({argv!r}))
"""


def cli(out: Path, delay: float, *extra: str) -> subprocess.Popen:
    """`vlmeval run` in a process of its own, with a slow stand-in for the blind baseline."""
    argv = ["run", "--model", "baseline:blind", "--tasks", "pope", "--limit", "40",
            "--batch-size", "4", "--out", str(out), *extra]
    code = CLI.format(tests=str(Path(__file__).parent), delay=delay, argv=argv)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_two_processes_on_one_run_directory_one_runs_one_is_refused(tmp_path):
    reference = cli(tmp_path / "ref", delay=0.0)
    assert reference.wait(60) == 0, reference.communicate()
    out = tmp_path / "run"
    first = cli(out, delay=0.01)
    wait_for_lines(out / "samples" / "pope.jsonl", 40, first)
    for extra in ((), ("--overwrite",)):
        second = cli(out, 0.0, *extra)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2
        assert err.count("\n") == 1 and f"in use by pid {first.pid}" in err and "--out" in err
    assert first.wait(60) == 0, first.communicate()
    ids = [r["request_id"] for r in lines(out)]
    assert len(ids) == len(set(ids)) == 720
    def computed(records):  # what the model said and how it scored (latency is measured)
        return [{k: v for k, v in r.items() if k != "latency_ms"} for r in records]

    assert computed(lines(out)) == computed(lines(tmp_path / "ref"))
    got = json.loads((out / "results.json").read_text())["tasks"]["pope"]["metrics"]
    want = json.loads((tmp_path / "ref" / "results.json").read_text())["tasks"]["pope"]["metrics"]
    assert got == want


@pytest.mark.slow
def test_sigterm_ends_the_run_interrupted_with_exit_143_and_it_resumes(tmp_path):
    out = tmp_path / "run"
    proc = cli(out, delay=0.01)
    wait_for_lines(out / "samples" / "pope.jsonl", 40, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143 and "interrupted" in err and "Traceback" not in err
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    resumed = cli(out, delay=0.0)
    assert resumed.wait(60) == 0, resumed.communicate()
    assert json.loads((out / "run.json").read_text())["status"] == "finished"
    assert len(lines(out)) == 720


@pytest.mark.slow
def test_disk_full_is_one_line_leaves_no_temporary_files_and_the_run_resumes_elsewhere(tmp_path):
    from vlmeval.cli import main

    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(small)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        argv = ["run", "--model", "baseline:blind", "--tasks", "pope,counting", "--limit", "100"]
        done = subprocess.run([sys.executable, "-m", "vlmeval", *argv, "--out", str(small / "run")],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
        assert "No space left on device" in done.stderr and "MB free there" in done.stderr
        assert not [p for p in (small / "run").rglob("*") if p.name.endswith(".tmp")]
        shutil.copytree(small / "run", tmp_path / "moved")
    finally:
        subprocess.run(["umount", str(small)], check=False)
    assert main([*argv, "--out", str(tmp_path / "moved")]) == 0
    assert main([*argv, "--out", str(tmp_path / "reference")]) == 0
    for task in ("pope", "counting"):
        got = (tmp_path / "moved" / "samples" / f"{task}.jsonl").read_text().splitlines()
        want = (tmp_path / "reference" / "samples" / f"{task}.jsonl").read_text().splitlines()
        drop = lambda lines: [{k: v for k, v in json.loads(l).items() if k != "latency_ms"} for l in lines]
        assert drop(got) == drop(want)


@pytest.mark.slow
def test_kill_9_at_ten_random_points_leaves_the_samples_of_an_uninterrupted_run(tmp_path):
    import random

    reference = cli(tmp_path / "ref", delay=0.0)
    assert reference.wait(60) == 0, reference.communicate()
    out = tmp_path / "cut"
    points = sorted(random.Random(7).sample(range(20, 700), 10))
    for point in points:
        proc = cli(out, delay=0.004)
        try:
            wait_for_lines(out / "samples" / "pope.jsonl", point, proc)
        except AssertionError:
            pass  # it finished before reaching the point: nothing left to kill
        proc.kill()
        proc.wait(30)
    resumed = cli(out, delay=0.0)
    assert resumed.wait(60) == 0, resumed.communicate()

    def computed(records):
        return [{k: v for k, v in r.items() if k != "latency_ms"} for r in records]

    assert computed(lines(out)) == computed(lines(tmp_path / "ref"))
    assert json.loads((out / "results.json").read_text())["tasks"]["pope"]["metrics"] == \
        json.loads((tmp_path / "ref" / "results.json").read_text())["tasks"]["pope"]["metrics"]
