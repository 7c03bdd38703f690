import json
import subprocess
import sys

import pytest

from vlmeval.cli import main


@pytest.mark.parametrize("argv,needle", [
    (["run", "--model", "baseline:orcale", "--suite", "hallucination"], "did you mean 'baseline:oracle'"),
    (["run", "--model", "baseline:oracle", "--suite", "halucination"], "did you mean 'hallucination'"),
    (["run", "--model", "baseline:oracle", "--tasks", "pope,popp"], "did you mean 'pope'"),
])
def test_unknown_names_fail_in_one_line_with_the_valid_options(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err and "valid:" in err


def test_run_prints_a_table_and_the_run_directory(capsys):
    assert main(["run", "--model", "baseline:always-yes", "--suite", "hallucination",
                 "--limit", "5"]) == 0
    out = capsys.readouterr().out
    assert "pope (v1) · policy official" in out
    assert "false_positive_rate   1.000" in out
    assert "run directory: runs/baseline-always-yes__hallucination__limit5\n" in out
    assert out.rstrip().endswith("runs/baseline-always-yes__hallucination__limit5/report.html")
    results = json.loads(open("runs/baseline-always-yes__hallucination__limit5/results.json").read())
    assert results["tasks"]["pope"]["metrics"]["random/recall"]["value"] == 1.0


def test_list_shows_every_registry(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("baseline:oracle", "baseline:always-yes", "baseline:blind", "pope", "hallucination"):
        assert name in out


def test_help_imports_nothing_heavy():
    code = ("import sys; from vlmeval.cli import build_parser; build_parser().format_help(); "
            "print(sorted(m for m in ('numpy', 'PIL', 'torch', 'tqdm', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_doctor_on_the_default_checkpoint_and_on_a_model_that_never_looks(capsys):
    assert main(["doctor", "--model", "zoo:scenes-mlp2x_gelu", "--n", "4"]) == 0
    out = capsys.readouterr().out
    assert "NativeAdapter" in out and "image tokens  16 per image" in out and "agree" in out
    assert "image reaches yes" in out
    assert main(["doctor", "--model", "baseline:blind", "--n", "4"]) == 1  # never looks
    assert "image reaches NO" in capsys.readouterr().out
    assert main(["doctor", "--model", "baseline:blind", "--n", "1"]) == 2


def test_hf_options_are_refused_for_models_that_do_not_read_them(capsys):
    assert main(["run", "--model", "baseline:oracle", "--tasks", "pope", "--dtype", "bfloat16"]) == 2
    assert "--dtype: 'baseline:oracle' reads no model options" in capsys.readouterr().err
