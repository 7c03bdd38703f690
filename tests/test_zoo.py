"""The shipped checkpoints: installed with the package, addressable as zoo:<name>, and what
their train.json says the documented command trains."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from vlmeval import cli
from vlmeval.adapters import DEFAULT_MODEL, MODELS, ZOO_DIR
from vlmeval.vlm.config import VLMConfig
from vlmeval.vlm.train import recipe_for

SHIPPED = sorted(p.parent.name for p in ZOO_DIR.glob("*/config.json"))


def test_the_default_model_ships():
    assert DEFAULT_MODEL == "zoo:scenes-mlp2x_gelu" and DEFAULT_MODEL in MODELS.names()


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_checkpoint_is_small_and_records_the_documented_recipe(name):
    path = ZOO_DIR / name
    assert {"config.json", "model.safetensors", "tokenizer.json", "train.json"} <= {
        p.name for p in path.iterdir()}
    assert (path / "model.safetensors").stat().st_size <= 5 * 2**20
    record = json.loads((path / "train.json").read_text())
    connector = name.removeprefix("scenes-")
    # `vlmeval train --connector NAME` (no other options) trains exactly this recipe
    assert record["recipe"] == asdict(recipe_for(connector))
    # config.json is what saving the model today writes, so a retrain reproduces it byte for byte
    meta = json.loads((path / "config.json").read_text())
    assert meta["config"] == VLMConfig.from_json(meta["config"]).to_json()


def test_default_model_answers_through_the_cli(tmp_path, capsys):
    assert cli.main(["run", "--model", DEFAULT_MODEL, "--tasks", "pope", "--limit", "12",
                     "--out", str(tmp_path / "run")]) == 0
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["attempts"][-1]["counters"]["encoder_calls"] >= 1
