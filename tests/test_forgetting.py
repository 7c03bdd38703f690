"""The forgetting guard (docs/gates.md): text skills after visual tuning, gated against the LM
before it. The shipped checkpoint (trained with --text-mix 0.1) passes; the same recipe with
--text-mix 0 (tests/fixtures/scenes-mlp2x_gelu-nomix, trained from the same --base) fails."""

from __future__ import annotations

from pathlib import Path

from vlmeval.cli import main

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "baselines" / "text-before-visual-tuning.json"
SPEC = ROOT / "baselines" / "text-gate.yaml"
NOMIX = ROOT / "tests" / "fixtures" / "scenes-mlp2x_gelu-nomix"


def gate(model: str, tmp_path: Path) -> int:
    out = tmp_path / "run"
    assert main(["run", "--model", model, "--suite", "text", "--out", str(out), "--batch-size", "64"]) == 0
    return main(["gate", str(out), "--baseline", str(BASELINE), "--spec", str(SPEC)])


def test_text_mixing_keeps_text_skills_through_the_gate(tmp_path, capsys):
    assert gate("zoo:scenes-mlp2x_gelu", tmp_path) == 0
    assert "gate: passed" in capsys.readouterr().out


def test_without_text_mixing_the_text_gate_fails(tmp_path, capsys):
    assert gate(str(NOMIX), tmp_path) == 1
    out = capsys.readouterr().out
    assert "FAIL text_gen accuracy" in out and "significant" in out
