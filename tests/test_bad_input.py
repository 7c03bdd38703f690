"""Bad input, as a new user or an attacker gives it: every case ends with exit 2 and one line
on stderr that names the file or option, the field and the fix, never a traceback (issue 21).

Each case is (name, setup(tmp) -> argv, words the message must contain)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vlmeval.cli import main
from vlmeval.data import scenes


def image(path: Path, index: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    scenes.render(scenes.scene("eval", index)).save(path)
    return path


def manifest(tmp: Path, rows, name: str = "data.jsonl", raw: bytes | None = None) -> Path:
    image(tmp / "a.png")
    path = tmp / name
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


ROW = {"image": "a.png", "question": "What colour is it?", "answers": ["red"]}


def run(*extra: str, task: str = "vqa") -> list[str]:
    return ["run", "--model", "baseline:oracle", "--tasks", task, *extra]


def with_data(rows=None, task: str = "vqa", name: str = "data.jsonl", raw: bytes | None = None,
              extra: tuple[str, ...] = ()):
    def setup(tmp: Path) -> list[str]:
        path = manifest(tmp, rows or [], name, raw)
        return run("--data", str(path), "--out", str(tmp / "run"), *extra, task=task)
    return setup


def finished_run(tmp: Path) -> Path:
    assert main(run("--limit", "1", "--out", str(tmp / "ok"), task="pope")) == 0
    return tmp / "ok"


def damage(file: str, text: str | bytes):
    def setup(tmp: Path) -> list[str]:
        out = finished_run(tmp)
        target = out / file
        target.write_bytes(text if isinstance(text, bytes) else text.encode())
        return ["report", str(out)]
    return setup


def checkpoint(config: str | bytes | None, weights: bytes | None = None):
    """A copy of the shipped checkpoint with its config or weights replaced."""
    def setup(tmp: Path) -> list[str]:
        from vlmeval.adapters import ZOO_DIR

        ckpt = tmp / "ckpt"
        ckpt.mkdir()
        for f in (ZOO_DIR / "scenes-mlp2x_gelu").iterdir():
            (ckpt / f.name).write_bytes(f.read_bytes())
        if config is not None:
            (ckpt / "config.json").write_bytes(config if isinstance(config, bytes) else config.encode())
        if weights is not None:
            (ckpt / "model.safetensors").write_bytes(weights)
        return ["run", "--model", str(ckpt), "--tasks", "pope", "--limit", "1", "--out", str(tmp / "r")]
    return setup


def truncated_weights(tmp: Path) -> list[str]:
    from vlmeval.adapters import ZOO_DIR

    data = (ZOO_DIR / "scenes-mlp2x_gelu" / "model.safetensors").read_bytes()
    return checkpoint(None, data[: len(data) // 2])(tmp)


def config_without(field: str):
    def setup(tmp: Path) -> list[str]:
        from vlmeval.adapters import ZOO_DIR

        config = json.loads((ZOO_DIR / "scenes-mlp2x_gelu" / "config.json").read_text())
        config["config"].pop(field)
        return checkpoint(json.dumps(config))(tmp)
    return setup


def gate_with_baseline(content: str):
    def setup(tmp: Path) -> list[str]:
        out = finished_run(tmp)
        (tmp / "base.json").write_text(content)
        return ["gate", str(out), "--baseline", str(tmp / "base.json")]
    return setup


def gate_with_spec(content: str):
    def setup(tmp: Path) -> list[str]:
        out = finished_run(tmp)
        (tmp / "gate.yaml").write_text(content)
        return ["gate", str(out), "--baseline", str(out), "--spec", str(tmp / "gate.yaml")]
    return setup


def gate_writing(flag: str, where):
    def setup(tmp: Path) -> list[str]:
        out = finished_run(tmp)
        return ["gate", str(out), "--baseline", str(out), flag, str(where(tmp))]
    return setup


def fifo(tmp: Path) -> list[str]:
    os.mkfifo(tmp / "pipe.jsonl")
    return run("--data", str(tmp / "pipe.jsonl"))


def parquet_garbage(tmp: Path) -> list[str]:
    (tmp / "d.parquet").write_bytes(b"PAR1 not really a parquet file")
    return run("--data", str(tmp / "d.parquet"))


def saved_dataset_garbage(tmp: Path) -> list[str]:
    folder = tmp / "saved"
    folder.mkdir()
    (folder / "dataset_dict.json").write_text("{not json")
    return run("--data", str(folder))


def captions_json(captions) -> callable:
    def setup(tmp: Path) -> list[str]:
        image(tmp / "val2014" / "COCO_val2014_000000000100.jpg")
        data = {"images": [{"id": 100, "file_name": "COCO_val2014_000000000100.jpg"}],
                "annotations": [{"id": i, "image_id": 100, "caption": c} for i, c in enumerate(captions)]}
        (tmp / "captions_val2014.json").write_text(json.dumps(data))
        return run("--data", str(tmp / "captions_val2014.json"), task="captioning")
    return setup


def instances_json(data: dict):
    def setup(tmp: Path) -> list[str]:
        (tmp / "instances_val2014.json").write_text(json.dumps(data))
        return run("--data", str(tmp / "instances_val2014.json"), task="pope")
    return setup


CASES = [
    # options
    ("negative seed", lambda t: run("--seed", "-5"), ["--seed", ">= 0"]),
    ("zero batch size", lambda t: run("--batch-size", "0"), ["--batch-size", ">= 1"]),
    ("zero limit", lambda t: run("--limit", "0"), ["--limit"]),
    ("word limit", lambda t: run("--limit", "many"), ["--limit", "whole number"]),
    ("error rate above one", lambda t: run("--max-error-rate", "2"), ["--max-error-rate", "between 0 and 1"]),
    ("unknown policy", lambda t: run("--policy", "lenient"), ["--policy", "official"]),
    ("unknown task", lambda t: run(task="popee"), ["popee", "did you mean 'pope'"]),
    ("unknown suite", lambda t: ["run", "--model", "baseline:oracle", "--suite", "halucination"], ["halucination", "hallucination"]),
    ("empty task list", lambda t: run(task=","), ["--suite", "--tasks"]),
    ("unknown model", lambda t: ["run", "--model", "baseline:orcale", "--tasks", "pope"], ["baseline:oracle"]),
    ("hub id", lambda t: ["run", "--model", "org/some-model", "--tasks", "pope"], ["org/some-model"]),
    ("missing checkpoint folder", lambda t: ["run", "--model", str(t / "nope"), "--tasks", "pope"], ["nope"]),
    ("missing data", lambda t: run("--data", str(t / "missing.jsonl")), ["missing.jsonl", "not found"]),
    ("data for another task", lambda t: run("--data", f"pope={t / 'x.jsonl'}"), ["--data", "pope"]),
    ("images without data", lambda t: run("--images", str(t)), ["--images", "--data"]),
    ("synonyms without chair", lambda t: run("--synonyms", str(t / "s.txt")), ["--synonyms", "none of this run"]),
    ("missing synonyms", lambda t: run("--synonyms", str(t / "s.txt"), task="chair"), ["s.txt"]),
    ("dtype for a baseline", lambda t: run("--dtype", "float16"), ["--dtype"]),
    ("data for a task without data", lambda t: with_data([ROW], task="text_gen")(t), ["text_gen", "--data"]),
    ("out is a file", lambda t: (t / "f").write_text("x") and run("--out", str(t / "f")), [str(Path("f"))]),
    ("out not writable", lambda t: run("--out", "/proc/vlmeval-run"), ["/proc/vlmeval-run"]),
    # data files
    ("manifest not UTF-8", with_data(raw=b"\xff\xfe{\"image\": \"a.png\"}\n"), ["data.jsonl", "UTF-8"]),
    ("manifest line not JSON", with_data(["{oops"]), ["data.jsonl:1", "not valid JSON"]),
    ("manifest row a list", with_data([[1, 2]]), ["data.jsonl:1", "JSON object"]),
    ("manifest image a number", with_data([{**ROW, "image": 5}]), ["data.jsonl:1", "image"]),
    ("manifest question a number", with_data([{**ROW, "question": 7}]), ["data.jsonl:1", "question"]),
    ("manifest answers a number", with_data([{**ROW, "answers": 3}]), ["data.jsonl:1", "answers"]),
    ("manifest without answers", with_data([{"image": "a.png", "question": "q"}]), ["data.jsonl:1", "answers"]),
    ("manifest answers empty", with_data([{**ROW, "answers": []}]), ["data.jsonl:1", "answers"]),
    ("manifest image missing", with_data([{**ROW, "image": "gone.png"}]), ["data.jsonl:1", "gone.png"]),
    ("manifest image a folder", with_data([{**ROW, "image": "."}]), ["data.jsonl:1", "image"]),
    ("manifest image outside", with_data([{**ROW, "image": "../outside.png"}]), ["data.jsonl:1", "outside", "--images"]),
    ("manifest image absolute", with_data([{**ROW, "image": "/etc/hostname"}]), ["data.jsonl:1", "/etc/hostname", "--images"]),
    ("manifest empty", with_data(raw=b""), ["data.jsonl", "no items"]),
    ("manifest ids repeated", with_data([{**ROW, "id": 1}, {**ROW, "id": 1}]), ["data.jsonl", "two items with id", "data-1"]),
    ("manifest only other tasks", with_data([{**ROW, "task": "captioning"}]), ["data.jsonl", "no items"]),
    ("counting answer a word", with_data([{**ROW, "answers": ["a few"]}], task="counting"), ["data.jsonl", "whole number"]),
    ("counting answer huge", with_data([{**ROW, "answers": ["99999999999999999999999"]}], task="counting"), ["data.jsonl", "whole number"]),
    ("pope label maybe", with_data([{**ROW, "question": "Is there a cat in the image?", "answers": ["maybe"]}], task="pope"), ["data.jsonl", "yes or no"]),
    ("spatial answer left", with_data([{**ROW, "answers": ["left"]}], task="spatial"), ["data.jsonl", "yes or no"]),
    ("choices not a list", with_data([{"question": "q", "choices": "abc", "answer": 0}], task="text_mc"), ["data.jsonl:1", "choices"]),
    ("answer index out of range", with_data([{"question": "q", "choices": ["a", "b"], "answer": 5}], task="text_mc"), ["data.jsonl:1", "answer"]),
    ("fifo as data", fifo, ["pipe.jsonl", "regular file"]),
    ("parquet garbage", parquet_garbage, ["d.parquet"]),
    ("saved dataset garbage", saved_dataset_garbage, ["saved"]),
    ("empty caption", captions_json(["", "A star."]), ["captions_val2014.json", "caption"]),
    ("integer caption", captions_json([5]), ["captions_val2014.json", "caption"]),
    ("instances without categories", instances_json({"images": [], "annotations": []}), ["instances_val2014.json"]),
    # checkpoints
    ("config not JSON", checkpoint("{nope"), ["config.json", "JSON"]),
    ("config not UTF-8", checkpoint(b"\xff\xfe\x00"), ["config.json"]),
    ("config without its model fields", config_without("vision"), ["config.json", "vision"]),
    ("weights garbage", checkpoint(None, b"\x00" * 64), ["model.safetensors"]),
    ("weights truncated", truncated_weights, ["model.safetensors"]),
    # run directories
    ("report on a missing folder", lambda t: ["report", str(t / "nothing")], ["nothing"]),
    ("results not JSON", damage("results.json", "{nope"), ["results.json", "JSON"]),
    ("results an empty object", damage("results.json", "{}"), ["results.json"]),
    ("run.json a list", damage("run.json", "[1]"), ["run.json"]),
    ("run.json not UTF-8", damage("run.json", b"\xff\xfe\x00"), ["run.json"]),
    ("sample line with NUL", damage("samples/pope.jsonl", b'\x00\x00{"task"\n'), ["pope.jsonl:1", "damaged"]),
    ("sample line an empty object", damage("samples/pope.jsonl", "{}\n"), ["pope.jsonl:1", "damaged"]),
    ("rescore without run.json", lambda t: ["rescore", str(t)], ["run.json"]),
    ("compare one run", lambda t: ["compare", str(finished_run(t))], ["at least two"]),
    ("compare a plain file", lambda t: (t / "x.json").write_text("{}") and ["compare", str(finished_run(t)), str(t / "x.json")], ["x.json", "baseline"]),
    ("baseline file without fields", gate_with_baseline('{"format": "vlmeval-baseline", "format_version": 2}'), ["base.json"]),
    ("baseline file not JSON", gate_with_baseline("{nope"), ["base.json", "JSON"]),
    ("gate spec not YAML", gate_with_spec("checks: [unclosed"), ["gate.yaml", "YAML"]),
    ("gate spec without checks", gate_with_spec("alpha: 0.1\n"), ["gate.yaml", "checks"]),
    ("gate spec unknown field", gate_with_spec("checks:\n  - {task: pope, metric: mean/f1, floor: 0.5, bogus: 1}\n"), ["gate.yaml", "bogus"]),
    ("gate markdown into a folder", gate_writing("--markdown", lambda t: t), [str(Path("/"))]),
    ("gate junit into a missing folder", gate_writing("--junit", lambda t: t / "no" / "gate.xml"), ["gate.xml"]),
    ("baseline save into a missing folder", lambda t: ["baseline", "save", str(finished_run(t)), "-o", str(t / "no" / "b.json")], ["b.json"]),
    ("doctor with one question", lambda t: ["doctor", "--model", "baseline:oracle", "--n", "1"], ["--n"]),
    ("train with bad steps", lambda t: ["train", "--out", str(t / "c"), "--steps", "encoder=lots"], ["--steps", "encoder"]),
    ("train an unknown connector", lambda t: ["train", "--out", str(t / "c"), "--connector", "mlp3"], ["mlp3"]),
]


@pytest.mark.parametrize("name,setup,words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_exit_2(name, setup, words, tmp_path, capsys):
    argv = setup(tmp_path)
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, f"exit {code}; stderr: {err[-600:]}"
    assert len(lines) == 1 and lines[0].startswith("vlmeval"), err
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"


def test_the_corpus_is_large():
    assert len(CASES) >= 60


def test_a_checkpoint_whose_weights_changed_is_refused_unless_accepted(tmp_path, capsys):
    from vlmeval.adapters import ZOO_DIR

    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    for f in (ZOO_DIR / "scenes-mlp2x_gelu").iterdir():
        (ckpt / f.name).write_bytes(f.read_bytes())
    weights = bytearray((ckpt / "model.safetensors").read_bytes())
    weights[-100] ^= 0x01  # one bit of one weight
    (ckpt / "model.safetensors").write_bytes(bytes(weights))
    argv = ["run", "--model", str(ckpt), "--tasks", "pope", "--limit", "1", "--out", str(tmp_path / "r")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "model.safetensors: its sha256 differs" in err and "--accept-changed-weights" in err
    assert main([*argv, "--accept-changed-weights"]) == 0


def test_samples_without_run_json_are_not_adopted(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", "--model", "baseline:oracle", "--tasks", "pope", "--limit", "2", "--out", str(out)]) == 0
    (out / "run.json").unlink()
    capsys.readouterr()
    assert main(["run", "--model", "baseline:blind", "--tasks", "pope", "--limit", "2", "--out", str(out)]) == 2
    assert "holds samples but no run.json" in capsys.readouterr().err
    assert main(["run", "--model", "baseline:blind", "--tasks", "pope", "--limit", "2", "--out", str(out),
                 "--overwrite"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["model"] == "baseline:blind"
