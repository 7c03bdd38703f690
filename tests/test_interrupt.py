"""Interruptions of a real process: kill -9 and Ctrl-C (SIGINT) mid-run, then resume."""

import json
import signal
import subprocess
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
