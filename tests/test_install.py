"""`pip install .` (not editable) gives a complete vlmeval with no generic top-level modules."""

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installs_a_complete_package(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path / "dist"), str(ROOT)], check=True)
    (wheel,) = (tmp_path / "dist").glob("vlmeval-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"vlmeval", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}
    for module in ("vlmeval/tasks/base.py", "vlmeval/tasks/suites.py", "vlmeval/probes/pope.py",
                   "vlmeval/reports/text.py", "vlmeval/reports/templates/report.html.j2",
                   "vlmeval/reports/templates/browser.js", "vlmeval/data/scenes.py", "vlmeval/cli.py",
                   *(f"vlmeval/zoo/scenes-mlp2x_gelu/{f}" for f in
                     ("config.json", "model.safetensors", "tokenizer.json", "train.json"))):
        assert module in names

    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(site), str(wheel)], check=True)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import vlmeval.probes, vlmeval.tasks; "
            "assert vlmeval.__file__.startswith(sys.argv[1]), vlmeval.__file__; "
            "assert vlmeval.probes.__file__.startswith(sys.argv[1]); "
            "from vlmeval.cli import main; "
            "raise SystemExit(main(['run', '--model', 'baseline:oracle', '--suite', 'hallucination', '--limit', '3']))")
    out = subprocess.run([sys.executable, "-c", code, str(site)], cwd=tmp_path,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert re.search(r"\n  mean +accuracy +1\.000 ", out.stdout), out.stdout
    assert (tmp_path / "runs" / "baseline-oracle__hallucination__limit3" / "report.html").stat().st_size > 10_000
    # the README's main model loads from the installed package data
    out = subprocess.run([sys.executable, "-c", code.replace("baseline:oracle", "zoo:scenes-mlp2x_gelu"),
                          str(site)], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "pope (v1)" in out.stdout
