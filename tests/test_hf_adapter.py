"""The Hugging Face adapter on tiny random-weight checkpoints of sixteen families, built on
the spot by tests/hf_families.py. Every test that takes `checkpoint` runs once per family in
FAMILIES."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image

from hf_families import FAMILIES
from vlmeval.adapters import resolve_model
from vlmeval.adapters.hf import SHARED_PREFIX_FAMILIES, VISION_CACHE_FAMILIES, HFAdapter, surface_forms
from vlmeval.cli import main
from vlmeval.data import scenes_samples
from vlmeval.errors import ConfigError
from vlmeval.parsing import parse_yes_no
from vlmeval.records import ImageRef, Request

# What one image costs each family's model: 16 positions in the prompt (a 32 px image in 8 px
# patches, or 64 px with 2x2 merging, or 16 query / resampler tokens), except Mllama, whose
# text cross-attends to its tile's 16 patches and class token, and the anyres families
# (LLaVA-NeXT, LLaVA-OneVision): a 16-token base view, one 16-token crop and a newline
# feature after each of the crop's 4 rows.
IMAGE_TOKENS = {"mllama": 17, "llava_next": 36, "llava_onevision": 36}


def image_tokens(checkpoint) -> int:
    return IMAGE_TOKENS.get(checkpoint.name, 16)


def test_readme_and_docs_list_every_tested_family_with_its_image_tokens():
    root = Path(__file__).resolve().parents[1]
    docs, readme = (root / "docs/hf-families.md").read_text(), (root / "README.md").read_text()
    for name in FAMILIES:
        tokens = IMAGE_TOKENS.get(name, 16)
        assert re.search(rf"^\| {re.escape(name)}( \(.*?\))? \| yes, tested \| passes \| yes \| "
                         rf"{tokens}\b", docs, re.M), name
        assert re.search(rf"^\|[^|]*(?<![\w-]){re.escape(name)}(?![\w-])[^|]*\| yes \| passes \| "
                         rf"yes \| {tokens}\b", readme, re.M), name


@pytest.fixture(scope="module", params=list(FAMILIES))
def checkpoint(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("hf") / request.param
    path.mkdir()
    FAMILIES[request.param](path)
    return path


def _requests(n_images=4):
    out = [Request(task="t", request_id=f"{i}/{j}", sample_id=s.id, prompt=q, image=s.image,
                   target="yes", options=("yes", "no"), max_new_tokens=2 + i)
           for i, s in enumerate(scenes_samples("eval", n_images))
           for j, q in enumerate(("Is there a star in the image?", "Is there a moon in the image?"))]
    return out + [Request(task="t", request_id="text", sample_id="text", image=None,
                          prompt="What is 2 plus 3?", target="5", options=("5", "6"), max_new_tokens=3)]


def test_directory_is_detected_and_batch_of_one_equals_batch_of_n(checkpoint):
    adapter = resolve_model(str(checkpoint))
    assert isinstance(adapter, HFAdapter) and adapter.info()["image_tokens"] == image_tokens(checkpoint)
    assert adapter.info()["family"] == checkpoint.name  # the builder made the family it names
    requests = _requests()
    batched_text, batched_scores = adapter.generate(requests), adapter.score(requests)
    # one pass where every surface form is one token (generate's first step scores it)
    one_token = [r for r in requests if all(len(f) == 1 for o in r.options for f in adapter._forms(o))]
    assert adapter.counters()["scored_from_prefill"] == len(one_token)
    if checkpoint.name == "llava":  # its tokenizer has every form of yes, no, 5, 6 as one token
        assert len(one_token) == len(requests)
    adapter.generate(requests[:1])
    rows = adapter.score(requests)  # not generate's batch: scored by a forward pass of its own
    for a, b in zip(rows, batched_scores):
        assert a == pytest.approx(b, abs=1e-4)
    for k, r in enumerate(requests):
        assert adapter.generate([r]) == [batched_text[k]]
        assert adapter.score([r])[0] == pytest.approx(batched_scores[k], abs=1e-4)


def test_vision_tower_runs_once_per_distinct_image(checkpoint):
    cached = resolve_model(str(checkpoint))
    if checkpoint.name not in VISION_CACHE_FAMILIES:
        assert "not among the families checked" in cached.info()["vision_features"]
        assert "vision_rows" not in cached.counters()
        return
    plain = resolve_model(str(checkpoint), options={"vision_cache": 0})
    assert plain.info()["vision_features"].startswith("off") and plain.vision_cache is None
    requests = _requests()  # 4 images, 2 questions each, and a text-only request
    assert cached.generate(requests) == plain.generate(requests)
    for a, b in zip(cached._split(requests, cached._score_rows),  # a forward pass of its own
                    plain._split(requests, plain._score_rows)):
        assert a == pytest.approx(b, abs=1e-5)
    assert cached.generate(requests[::-1]) == plain.generate(requests[::-1])
    one_per_image = [r for r in requests if r.request_id.endswith("/0")]
    distinct = len(cached._inputs(one_per_image)["pixel_values"])  # images, or their tiles
    assert cached.counters()["vision_rows"] == distinct


def test_a_batch_with_more_distinct_images_than_the_cache_holds(checkpoint):
    if checkpoint.name != "llava":
        pytest.skip("the cache's bookkeeping is the same for every family")
    small = resolve_model(str(checkpoint), options={"vision_cache": 2})
    plain = resolve_model(str(checkpoint), options={"vision_cache": 0})
    requests = _requests()  # four distinct images
    assert small.generate(requests) == plain.generate(requests)
    assert small.counters()["vision_rows"] == 4 and len(small.vision_cache.items) == 2


def test_shared_image_prefix_gives_the_unshared_outputs_and_scores(checkpoint):
    """Each image's prompt prefix computed once per batch, every prompt continued from its cache
    through holes in the attention mask: the same texts, and option scores within float
    rounding (a forward pass split in two adds in another order), as the plain batch."""
    shared = resolve_model(str(checkpoint))
    if checkpoint.name not in SHARED_PREFIX_FAMILIES:
        assert "not among the families checked" in shared.info()["image_prefix"]
        assert not shared.shared_prefix and "prefix_rows" not in shared.counters()
        return
    plain = resolve_model(str(checkpoint), options={"shared_prefix": "false"})
    assert plain.info()["image_prefix"].endswith("(--model-arg shared_prefix=false)")
    # prompts of different lengths: the shorter rows have padding between prefix and question
    requests = [replace(r, prompt=r.prompt.replace("moon", "big red moon"))
                for r in _requests(5)]
    for batch in (requests, requests[::-1]):
        assert shared.generate(batch) == plain.generate(batch)
        for a, b in zip(shared.score(batch), plain.score(batch)):
            assert a == pytest.approx(b, abs=1e-5)
    assert shared.counters()["prefix_rows"] == 2 * 5  # once per distinct image and batch
    assert shared.counters()["scored_from_prefill"] == plain.counters()["scored_from_prefill"]
    # The whole next-token distribution, not only the options' (Gemma 3's forms are not all
    # one token here, so its scores come from a pass of their own)
    images = [r for r in requests if r.image is not None]
    batch = plain._inputs(images)
    split = shared._shared_prefix(images, shared._inputs(images), 1)
    settings = dict(max_new_tokens=1, do_sample=False, num_beams=1, return_dict_in_generate=True,
                    output_logits=True, pad_token_id=plain.tokenizer.pad_token_id)
    with torch.no_grad():
        first = shared.model.generate(**split, **settings).logits[0]
        assert torch.allclose(first, plain.model.generate(**batch, **settings).logits[0], atol=1e-4)


def test_shared_prefixes_of_different_lengths(tmp_path):
    """LLaVA-NeXT gives an image as many tokens as its size asks (anyres): prefixes of two
    lengths are left-padded in the prefix pass, positions counting real tokens only."""
    FAMILIES["llava_next"](tmp_path / "ckpt")
    for size in ((32, 32), (96, 32)):
        Image.effect_noise(size, 60).convert("RGB").save(tmp_path / f"{size[0]}.png")
    refs = [ImageRef("file", str(tmp_path / f"{w}.png"), "") for w in (32, 96)]
    requests = [Request(task="t", request_id=f"{i}/{j}", sample_id=str(i), prompt=q, image=ref,
                        target="yes", options=("yes", "no"), max_new_tokens=3)
                for i, ref in enumerate(refs)
                for j, q in enumerate(("Is there a star?", "Is there a big red moon here?"))]
    shared = resolve_model(str(tmp_path / "ckpt"))
    plain = resolve_model(str(tmp_path / "ckpt"), options={"shared_prefix": "false"})
    lengths = plain._inputs(requests)["attention_mask"].sum(1).tolist()
    assert lengths[0] != lengths[2]  # the two images take different numbers of tokens
    assert shared.generate(requests) == plain.generate(requests)
    for a, b in zip(shared.score(requests), plain.score(requests)):
        assert a == pytest.approx(b, abs=1e-5)
    assert shared.counters()["prefix_rows"] == 2


def test_no_shared_prefix_where_a_sliding_window_could_see_the_padding(tmp_path):
    """Gemma 3's tiny build attends in windows of 64 positions: rows that with their new tokens
    could outgrow one keep the plain batch (the padding between prefix and question would
    count against the window), and answer as it does."""
    FAMILIES["gemma3"](tmp_path)
    shared = resolve_model(str(tmp_path))
    plain = resolve_model(str(tmp_path), options={"shared_prefix": "false"})
    assert shared.model.config.get_text_config().sliding_window == 64
    short = [r for r in _requests(2) if r.image is not None]
    long = [replace(r, max_new_tokens=40) for r in short]
    assert shared.generate(short) == plain.generate(short)
    assert shared.counters()["prefix_rows"] == 2
    assert shared.generate(long) == plain.generate(long)
    assert shared.counters()["prefix_rows"] == 2  # no prefix pass: the plain batch


def _records(out):
    keep = lambda r: {k: v for k, v in r.items() if k != "latency_ms"}  # noqa: E731
    return {task.stem: [keep(json.loads(line)) for line in task.open()]
            for task in sorted((out / "samples").glob("*.jsonl"))}


def test_inputs_built_ahead_in_a_thread_give_the_same_records(tmp_path):
    """With --model-arg prefetch=true the runner tells the adapter the next batch; its inputs
    are built in a background thread (with its own processor: a fast tokenizer used by two
    threads at once fails) while the current batch computes. Every batch after a task's first
    is built ahead, and the records equal those of a run (the default) that builds each batch
    when it computes it."""
    FAMILIES["llava"](tmp_path / "ckpt")
    runs = {}
    for name, extra in (("ahead", ["--model-arg", "prefetch=true"]), ("inline", [])):
        out = tmp_path / name
        assert main(["run", "--model", str(tmp_path / "ckpt"), "--tasks", "pope,blind", "--limit",
                     "4", "--batch-size", "3", "--out", str(out), "-q", *extra]) == 0
        runs[name] = (_records(out), json.loads((out / "run.json").read_text()))
    (ahead, run), (inline, plain) = runs["ahead"], runs["inline"]
    assert ahead == inline and sum(map(len, ahead.values())) > 0
    counters = run["attempts"][-1]["counters"]
    computed = counters["scored_from_prefill"]  # every computed request is a yes/no question
    assert counters["inputs_prefetched"] == computed - 2 * 3  # all but each task's first batch
    assert plain["attempts"][-1]["counters"]["inputs_prefetched"] == 0
    assert "background thread" in run["model"]["inputs"]
    assert plain["model"]["inputs"] == "each batch's built before it is computed"  # the default


def test_inputs_built_ahead_are_used_only_for_the_batch_they_were_built_for(tmp_path):
    FAMILIES["llava"](tmp_path)
    ahead = resolve_model(str(tmp_path), options={"prefetch": "true"})
    plain = resolve_model(str(tmp_path))
    requests = _requests(6)  # 12 with images, then one without
    a, b, c = requests[:4], requests[4:8], requests[8:]
    ahead.prefetch(a)
    ahead.prefetch(b)  # a is the batch computed now: kept
    ahead.prefetch(c)  # a's are dropped (a batch computed before it): only b's and c's are kept
    assert ahead.generate(a) == plain.generate(a)
    assert ahead.counters()["inputs_prefetched"] == 0
    assert ahead.generate(b[:3]) == plain.generate(b[:3])  # not the batch told: built now
    assert ahead.counters()["inputs_prefetched"] == 0
    assert ahead.generate(b) == plain.generate(b)
    assert ahead.counters()["inputs_prefetched"] == 4
    assert ahead.generate(c) == plain.generate(c)  # images and text: two parts, both ahead
    assert ahead.counters()["inputs_prefetched"] == 9
    thread_copy = ahead._prefetcher
    assert thread_copy.tokenizer._tokenizer is not ahead.tokenizer._tokenizer


def test_an_image_that_fails_in_the_thread_fails_its_request_only(tmp_path):
    from vlmeval.runner import predict

    FAMILIES["llava"](tmp_path / "ckpt")
    missing = ImageRef("file", str(tmp_path / "missing.png"), "")
    requests = _requests(2)[:4]
    first, second = requests[:2], [requests[2], replace(requests[3], image=missing)]
    out = {}
    for name, options in (("ahead", {"prefetch": "true"}), ("inline", {})):
        adapter = resolve_model(str(tmp_path / "ckpt"), options=options)
        adapter.prefetch(second)
        out[name] = predict(adapter, first) + predict(adapter, second)
    assert [(p.raw, p.error) for p in out["ahead"]] == [(p.raw, p.error) for p in out["inline"]]
    assert [p.error is not None for p in out["ahead"]] == [False, False, False, True]
    assert "missing.png" in out["ahead"][3].error


def test_generate_and_score_agree_on_the_chosen_option(checkpoint):
    adapter = resolve_model(str(checkpoint))
    requests = [replace(r, max_new_tokens=1) for r in _requests(8) if r.image is not None]

    def both():
        answers = [parse_yes_no(t, "strict").answer for t in adapter.generate(requests)]
        chosen = ["yes" if s[0] > s[1] else "no" for s in adapter.score(requests)]
        assert answers == chosen
        return chosen

    first = both()
    head = adapter.model.get_output_embeddings().weight
    with torch.no_grad():
        head.neg_()  # swap the planted "yes" and "no" directions
    assert both() == ["no" if c == "yes" else "yes" for c in first]


def test_option_scores_sum_the_forms_a_chat_model_says(tmp_path):
    """A chat model answers "Yes" or "No", not "yes"/"no". The score of option "yes" sums its
    surface forms, so scores still pick what the model says; the literal "yes" and "no" tokens
    alone would read two equal (zeroed) rows of the head: a tie on every question."""
    assert surface_forms("yes") == ["yes", " yes", "Yes", " Yes", "YES", " YES"]
    FAMILIES["llava"](tmp_path)
    adapter = resolve_model(str(tmp_path))
    requests = [replace(r, max_new_tokens=1) for r in _requests(8) if r.image is not None]
    # The "Yes" row of the head points along a direction that splits these questions' final
    # hidden states (centred, and orthogonal to their mean): some get "Yes", some "No".
    with torch.no_grad():
        h = adapter.model(**adapter._inputs(requests), output_hidden_states=True
                          ).hidden_states[-1][:, -1].float()
        mean = h.mean(0)
        direction = h[0] - mean
        direction -= (direction @ mean) / (mean @ mean) * mean
        head = adapter.model.get_output_embeddings().weight
        (yes,), (no,) = (adapter.tokenizer(w, add_special_tokens=False)["input_ids"] for w in ("Yes", "No"))
        head.zero_()
        head[yes], head[no] = 50 * direction, -50 * direction
    said = adapter.generate(requests)
    assert set(said) == {"Yes", "No"}
    assert ["Yes" if s[0] > s[1] else "No" for s in adapter.score(requests)] == said
    assert "surface forms" in adapter.info()["option_scores"]


def _run_and_check(checkpoint, out, what):
    assert main(["run", "--model", str(checkpoint), *what, "--batch-size", "8", "--out", str(out)]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["model"]["adapter"] == "HFAdapter"
    assert run["model"]["generation"]["do_sample"] is False
    results = json.loads((out / "results.json").read_text())["tasks"]
    for name in results:
        records = [json.loads(line) for line in (out / "samples" / f"{name}.jsonl").open()]
        assert records and all(r["error"] is None and r["raw"] is not None for r in records)
        with_image = [r for r in records if r["image"] is not None and r["image"]["source"] == "scenes"]
        assert with_image and all(r["prompt"] in r["model_prompt"] for r in with_image)
    assert results["pope"]["metrics"]["random/roc_auc"]["n"] > 0  # score mode ran
    return results


def test_pope_runs_with_the_templated_prompt_stored(checkpoint, tmp_path):
    _run_and_check(checkpoint, tmp_path / "run", ["--tasks", "pope,blind", "--limit", "4"])
    # blind asks POPE's questions again and POPE's settings share questions: computed once,
    # each repeat stores the first one's answer and scores.
    records = [json.loads(line) for task in ("pope", "blind")
               for line in (tmp_path / "run" / "samples" / f"{task}.jsonl").open()]
    first = {}
    for r in records:
        key = (r["image"] and r["image"]["sha256"], r["prompt"])
        assert first.setdefault(key, r)["raw"] == r["raw"]
        assert first[key]["option_logprobs"] == r["option_logprobs"]
    attempt = json.loads((tmp_path / "run" / "run.json").read_text())["attempts"][-1]
    assert attempt["answers_copied"] == len(records) - len(first) > 0


@pytest.mark.slow
def test_hallucination_suite_limit_20(checkpoint, tmp_path):
    results = _run_and_check(checkpoint, tmp_path / "run",
                             ["--suite", "hallucination", "--limit", "20"])
    assert set(results) == {"pope", "chair", "image_swap", "blind"}


def test_safety_checks(tmp_path, capsys):
    (tmp_path / "config.json").write_text('{"model_type": "llava"}')
    (tmp_path / "preprocessor_config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"not really")
    with pytest.raises(ConfigError, match="only pickle weights .* --allow-pickle"):
        resolve_model(str(tmp_path))
    assert main(["run", "--model", "some-org/some-vlm", "--tasks", "pope"]) == 2
    assert "only local checkpoints" in capsys.readouterr().err


def test_doctor_reports_on_a_hf_checkpoint(checkpoint, capsys):
    assert main(["doctor", "--model", str(checkpoint), "--n", "4"]) == 0
    out = capsys.readouterr().out
    assert "HFAdapter" in out and f"image tokens  {image_tokens(checkpoint)} per image" in out
    assert "batch 1 vs 4  agree" in out and "image reaches yes" in out and "model prompt" in out


def test_importing_vlmeval_turns_the_hf_offline_switches_on():
    import subprocess
    import sys

    code = ("import os; [os.environ.pop(k, None) for k in ('HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE', "
            "'HF_DATASETS_OFFLINE')]; import vlmeval, huggingface_hub.constants as c; "
            "print(c.HF_HUB_OFFLINE, os.environ['TRANSFORMERS_OFFLINE'], os.environ['HF_DATASETS_OFFLINE'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "1", "1"]


def test_a_processor_that_cannot_load_gives_a_one_line_error(tmp_path, capsys):
    (tmp_path / "config.json").write_text('{"model_type": "llava"}')
    (tmp_path / "preprocessor_config.json").write_text('{"processor_class": "NoSuchProcessor"}')
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert main(["run", "--model", str(tmp_path), "--tasks", "pope", "--limit", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(tmp_path) in err
    assert "could not load its processor" in err or "found no tokenizer" in err
