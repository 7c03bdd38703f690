"""Data-parallel runs: `torchrun --nproc-per-node 2 -m vlmeval run` (gloo, CPU) against one
process, and a rank killed with SIGKILL then the same command again (vlmeval/distributed.py).
Slow (each torchrun starts two Python processes); CI runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from served import free_port

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = Path(sys.executable).with_name("torchrun")
SLOW_CLI = ROOT / "tests" / "slow_cli.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}

pytestmark = pytest.mark.slow


def torchrun(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Not from the source checkout's root: there `-m vlmeval` would import the unbuilt
    sources instead of the installed package."""
    return subprocess.run([str(TORCHRUN), "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
                           "--master-port", str(free_port()), *args],
                          capture_output=True, text=True, env=ENV, timeout=timeout, cwd=cwd)


def samples(out: Path) -> dict[str, list[dict]]:
    """Every task's records in file order, without the timing field (it differs run to run)."""
    return {p.stem: [{k: v for k, v in json.loads(line).items() if k != "latency_ms"}
                     for line in p.open()]
            for p in sorted((out / "samples").glob("*.jsonl"))}


def metrics(out: Path) -> dict:
    return {t: r["metrics"] for t, r in json.loads((out / "results.json").read_text())["tasks"].items()}


def test_two_ranks_give_the_same_run_directory_as_one_process(tmp_path):
    what = ["--model", "zoo:scenes-linear", "--tasks", "pope,blind,counting", "--limit", "10", "-q"]
    done = torchrun("-m", "vlmeval", "run", *what, "--out", str(tmp_path / "two"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    one = subprocess.run([sys.executable, "-m", "vlmeval", "run", *what, "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, env=ENV, cwd=tmp_path)
    assert one.returncode == 0, one.stderr[-3000:]
    two_samples = samples(tmp_path / "two")
    assert set(two_samples) == {"pope", "blind", "counting"}
    assert two_samples == samples(tmp_path / "one")
    assert metrics(tmp_path / "two") == metrics(tmp_path / "one")
    assert not (tmp_path / "two" / "samples" / "shards").exists()  # merged and cleaned up
    attempt = json.loads((tmp_path / "two" / "run.json").read_text())["attempts"][-1]
    assert attempt["ranks"] == 2 and attempt["computed"] == sum(map(len, two_samples.values()))
    assert attempt["counters"]["encoder_calls"] > 0  # both ranks' counters, summed
    assert done.stdout.count("run directory:") == 1  # rank 0 alone reports


def test_a_rank_killed_with_sigkill_then_the_same_command_completes(tmp_path):
    out = tmp_path / "run"
    argv = [str(SLOW_CLI), "0.05", "run", "--model", "slow-blind", "--tasks", "pope", "--limit", "40",
            "--batch-size", "4", "--out", str(out), "-q"]
    port = free_port()
    job = subprocess.Popen([str(TORCHRUN), "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
                            "--master-port", str(port), *argv], env=ENV, cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    shard = out / "samples" / "shards" / "rank1" / "pope.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (shard.exists() and shard.read_text().count("\n") >= 8):
        assert job.poll() is None, job.communicate()[1][-3000:]
        time.sleep(0.05)
    os.kill(int(Path(f"{out}.rank1.pid").read_text()), signal.SIGKILL)
    job.communicate(timeout=120)
    assert job.returncode != 0
    assert json.loads((out / "run.json").read_text())["status"] in ("interrupted", "running")
    stored_before = shard.read_text().count("\n")
    assert stored_before >= 8  # what rank 1 stored before it died

    again = torchrun(*argv, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    single = tmp_path / "single"
    one = subprocess.run([sys.executable, str(SLOW_CLI), "0", *argv[2:-3], "--out", str(single), "-q"],
                         capture_output=True, text=True, env=ENV, cwd=tmp_path)
    assert one.returncode == 0, one.stderr[-3000:]
    assert samples(out) == samples(single) and metrics(out) == metrics(single)
    attempts = json.loads((out / "run.json").read_text())["attempts"]
    assert len(attempts) == 2 and attempts[-1]["computed"] < 720 - stored_before + 1
