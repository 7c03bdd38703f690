"""Entry points: a tiny plugin package, made installed by its dist-info on sys.path, adds an
adapter and a task that `vlmeval list` and `vlmeval run` then use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

PLUGIN = textwrap.dedent('''
    from vlmeval.adapters.baselines import _Baseline
    from vlmeval.records import Parsed, Request, Verdict
    from vlmeval.stats import bootstrap_metrics, safe_ratio
    from vlmeval.tasks.base import Task, TaskScore
    import numpy as np

    class Shouter(_Baseline):
        """Answers every question in capitals."""
        def answer(self, request):
            return request.target.upper()

    def make(spec):
        return Shouter(spec)

    class EchoTask(Task):
        """Asks the model to repeat three words; right when it does (case-insensitive)."""
        name = "echo"
        version = "1"
        headline = "accuracy"

        def requests(self):
            return [Request(task="echo", request_id=w, sample_id=w, prompt=f"Say {w}.",
                            image=None, target=w) for w in ("star", "moon", "ring")]

        def parse(self, raw, policy):
            return Parsed.ok(raw.strip().lower())

        def verdict(self, record, parsed):
            return Verdict(correct=parsed.answer == record["target"], outcome="echo")

        def score(self, records, policy, seed):
            counts = np.array([[1.0, (r["raw"] or "").lower() == r["target"]] for r in records])
            return TaskScore(metrics=bootstrap_metrics(
                counts, {"accuracy": lambda s: safe_ratio(s[..., 1], s[..., 0])},
                {"accuracy": lambda s: s[..., 0]}, seed=seed))
''')


def _install(root):
    (root / "vlmeval_echo_plugin.py").write_text(PLUGIN)
    info = root / "vlmeval_echo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vlmeval-echo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[vlmeval.adapters]\ntest:shouter = vlmeval_echo_plugin:make\n\n"
        "[vlmeval.tasks]\necho = vlmeval_echo_plugin:EchoTask\n")


def _vlmeval(root, *args):
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run([sys.executable, "-m", "vlmeval", *args], cwd=root, env=env,
                          capture_output=True, text=True)


def test_plugin_adapter_and_task_register_through_entry_points(tmp_path):
    _install(tmp_path)
    listed = _vlmeval(tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    assert "test:shouter" in listed.stdout and "echo" in listed.stdout
    out = _vlmeval(tmp_path, "run", "--model", "test:shouter", "--tasks", "echo,counting",
                   "--limit", "3", "--out", "run")
    assert out.returncode == 0, out.stderr
    results = json.loads((tmp_path / "run" / "results.json").read_text())["tasks"]
    assert results["echo"]["metrics"]["accuracy"]["value"] == 1.0
    assert results["counting"]["metrics"]["exact_accuracy"]["value"] == 1.0  # digits shouted


def test_a_broken_plugin_is_skipped_with_a_message(tmp_path):
    _install(tmp_path)
    (tmp_path / "vlmeval_echo_plugin-0.1.dist-info" / "entry_points.txt").write_text(
        "[vlmeval.tasks]\nbroken = vlmeval_echo_plugin:Missing\n")
    out = _vlmeval(tmp_path, "list", "tasks")
    assert out.returncode == 0 and "counting" in out.stdout
    assert "plugin 'broken'" in out.stderr and "skipped" in out.stderr
