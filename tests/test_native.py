"""Our VLM end to end: the trainer writes a checkpoint, the native adapter evaluates it."""

from __future__ import annotations

import json
from dataclasses import replace
import math
import random

import pytest
import torch
from safetensors.torch import load_file

from vlmeval import cli
from vlmeval.adapters import resolve_model
from vlmeval.adapters.native import FeatureCache, NativeAdapter
from vlmeval.data import load_images, scenes, scenes_samples
from vlmeval.errors import ConfigError
from vlmeval.records import Request
from vlmeval.registry import UnknownName
from vlmeval.runner import RunConfig, run
from vlmeval.vlm import curriculum, template
from vlmeval.vlm.checkpoint import FILES
from vlmeval.vlm.connectors import CONNECTORS
from vlmeval.vlm.tokenizer import BOS, IMAGE, UNK, build_tokenizer
from vlmeval.vlm.train import parse_steps, recipe_for, train

TINY = dict(encoder_batch=16, batch_size=8, vision_dim=16, vision_depth=1, lm_dim=32,
            lm_depth=2, val_images=16)


@pytest.fixture(scope="module", params=CONNECTORS.names())
def checkpoint(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    recipe = recipe_for(request.param, train_images=64,
                        steps={"encoder": 3, "lm": 3, "align": 3, "instruct": 3}, **TINY)
    train(recipe, out)
    return out


def _requests(n_images: int = 3) -> list[Request]:
    samples = scenes_samples("eval", n_images)
    out = []
    for i, s in enumerate(samples):
        for j, q in enumerate(("Is there a star in the image?", "How many circles are there?")):
            out.append(Request(task="t", request_id=f"{i}/{j}", sample_id=s.id, prompt=q,
                               image=s.image, target="yes", options=("yes", "no", "two"),
                               max_new_tokens=4 + i))
    out.append(Request(task="t", request_id="text", sample_id="text", prompt="What is 2 plus 3?",
                       image=None, target="5", options=("5", "6"), max_new_tokens=3))
    return out


def test_checkpoint_directory_holds_the_format_files(checkpoint):
    assert sorted(p.name for p in checkpoint.iterdir()) == sorted(FILES)
    record = json.loads((checkpoint / "train.json").read_text())
    assert set(record["losses"]) == {"encoder", "lm", "align", "instruct"}
    assert all(record["losses"][s] for s in record["losses"])  # each stage logged its loss
    assert record["recipe"]["seed"] == 0 and record["params"] > 0


def test_batch_of_one_equals_batch_of_n(checkpoint):
    adapter = NativeAdapter("ckpt", checkpoint, cache=FeatureCache())
    requests = _requests()
    batched_text, batched_scores = adapter.generate(requests), adapter.score(requests)
    for r, text, scores in zip(requests, batched_text, batched_scores):
        assert adapter.generate([r]) == [text]
        assert adapter.score([r])[0] == pytest.approx(scores, abs=1e-4)
        assert len(scores) == len(r.options) and all(s <= 0 and math.isfinite(s) for s in scores)


def test_score_is_a_log_distribution_over_single_token_options(checkpoint):
    adapter = NativeAdapter("ckpt", checkpoint, cache=FeatureCache())
    vocab = [w for w in adapter.tokenizer.get_vocab() if not w.startswith("<")]
    r = Request(task="t", request_id="0", sample_id="s", prompt="What is 2 plus 3?", image=None,
                target="5", options=tuple(vocab))
    total = sum(math.exp(s) for s in adapter.score([r])[0])
    specials = 5  # <pad> <image> <bos> <eos> <unk> carry the rest of the mass
    assert 0.0 < total <= 1.0 + 1e-5 and len(vocab) == adapter.tokenizer.get_vocab_size() - specials


def test_encoder_runs_once_per_unique_image(checkpoint):
    adapter = NativeAdapter("ckpt", checkpoint, cache=FeatureCache())
    requests = _requests(n_images=3)  # 3 images, each asked twice, plus a text-only request
    adapter.generate(requests[:2])
    adapter.generate(requests)
    adapter.score(requests)
    counters = adapter.counters()
    assert counters.pop("prefix_calls", 3) == 3  # the image prefix through the LM once per image
    assert counters == {"encoder_calls": 3, "scored_from_prefill": len(requests),
                        "images_prefetched": 0}  # no runner here to say what comes next


@pytest.mark.parametrize("model", ["fixture", "zoo"])
def test_an_images_features_do_not_depend_on_the_images_encoded_with_it(checkpoint, model):
    """Several new images share one encoder call (their convolutional stems one at a time, the
    blocks together): each image's features are the bits it gets alone."""
    path = checkpoint if model == "fixture" else resolve_model("zoo:scenes-mlp2x_gelu").path
    samples = scenes_samples("eval", 7)
    together = NativeAdapter("a", path, cache=FeatureCache())
    together._image_features([s.image for s in samples])
    alone = NativeAdapter("b", path, cache=FeatureCache())
    for s in samples[::-1]:
        alone._image_features([s.image])
    assert together.encoder_calls == alone.encoder_calls == 7
    fp = together.encoder_fingerprint
    for s in samples:
        key = (fp, s.image.sha256)
        assert torch.equal(together.cache.get(key), alone.cache.get(key))
        with torch.inference_mode():
            single = together.model.vision(together._pixels(load_images([s.image])[0])[None])[0]
        assert torch.equal(together.cache.get(key), single)


def test_shared_image_prefix_gives_the_unshared_outputs_and_scores(checkpoint):
    """The image prefix computed once per image and attended to from each question's prefill:
    the same generated text and scores as every request's own full prefill (float rounding
    apart: the prefix's keys come from a different matmul), in batches that mix images, text
    requests, questions of several lengths and a cache smaller than the batch's images."""
    plain = NativeAdapter("plain", checkpoint, cache=FeatureCache(), prefix_cache=0)
    if plain.model.connector.kind != "prefix":
        pytest.skip("cross_attn models have no image prefix")
    requests = _requests(n_images=4)
    requests += [replace(r, request_id=r.request_id + "/long", max_new_tokens=6,
                         prompt=r.prompt + " Look at the picture again and answer.")
                 for r in requests[::3]]
    expected = plain.generate(requests)
    for capacity in (None, 1):  # the default, and a cache smaller than a batch's images
        shared = NativeAdapter("shared", checkpoint, cache=FeatureCache(), prefix_cache=capacity)
        for batch in (requests[:5], requests[5:], requests):  # the last: prefixes cached
            assert shared.generate(batch) == plain.generate(batch)
            for got, want in zip(shared.score(batch), plain.score(batch)):
                assert got == pytest.approx(want, abs=1e-5)
        assert shared.generate(requests) == expected
    assert plain.counters().get("prefix_calls") is None and "prefix_calls" in shared.counters()
    assert NativeAdapter("s", checkpoint, cache=FeatureCache()).info()["image_prefix"].startswith("once")


def test_a_runs_repeated_requests_are_computed_once_and_copied(checkpoint, tmp_path):
    """POPE's settings repeat their present-object questions and blind asks POPE's questions
    again: the run computes each distinct (image, prompt, options, token limit) once and copies
    the answer; every record and metric equals a run that computes them all."""
    def run_dir(name, adapter):
        config = RunConfig(model=str(checkpoint), tasks=("pope", "blind"), limit=3, out=tmp_path / name)
        out = run(config, adapter).run_dir
        records = {p.stem: [{k: v for k, v in json.loads(line).items() if k != "latency_ms"}
                            for line in p.open()] for p in sorted((out / "samples").glob("*.jsonl"))}
        results = json.loads((out / "results.json").read_text())
        return (records, {t: r["metrics"] for t, r in results["tasks"].items()},
                json.loads((out / "run.json").read_text())["attempts"][-1])

    every = NativeAdapter("all", checkpoint, cache=FeatureCache())
    every.answer_key = None  # no key: every request computed
    records, metrics, attempt = run_dir("all", every)
    copied_records, copied_metrics, copied = run_dir("copied", NativeAdapter("c", checkpoint))
    assert_same_records(copied_records, records)
    assert copied_metrics.keys() == metrics.keys()
    for task in metrics:  # equal here; scores may differ in float rounding between batches
        for name, m in metrics[task].items():
            assert copied_metrics[task][name] == pytest.approx(m, rel=1e-5, abs=1e-6, nan_ok=True)
    requests = [r for task in records.values() for r in task]
    distinct = {(r["image"]["sha256"] if r["image"] else None, r["prompt"]) for r in requests}
    assert copied["answers_copied"] == len(requests) - len(distinct) > len(requests) / 3
    assert copied["computed"] == attempt["computed"] == len(requests) and "answers_copied" not in attempt
    assert copied["counters"]["scored_from_prefill"] == len(distinct)


def test_copied_answers_follow_their_source_through_failures_and_resumes(checkpoint, tmp_path):
    """A failed source request leaves its copies failed; the next run computes the source again
    and copies its answer. A deleted samples file is made again from the sources."""
    config = RunConfig(model=str(checkpoint), tasks=("pope", "blind"), limit=2, out=tmp_path / "r")
    adapter = NativeAdapter("c", checkpoint, cache=FeatureCache())
    clean = run(replace(config, out=tmp_path / "clean"), adapter).run_dir
    bad = sorted(json.loads(line)["prompt"] for line in (clean / "samples/pope.jsonl").open())[0]
    flaky = NativeAdapter("c", checkpoint, cache=FeatureCache())
    real = flaky.generate

    def generate(requests):
        if any(r.prompt == bad for r in requests):
            raise RuntimeError("flaky model")
        return real(requests)

    flaky.generate = generate
    first = run(config, flaky).run_dir

    def read(out):
        return {p.stem: [{k: v for k, v in json.loads(line).items() if k != "latency_ms"}
                         for line in p.open()] for p in sorted((out / "samples").glob("*.jsonl"))}

    failed = [r for task in read(first).values() for r in task if r["error"]]
    assert len(failed) > 1 and {r["prompt"] for r in failed} == {bad}  # the source and copies
    assert run(config, adapter).run_dir == first
    assert_same_records(read(first), read(clean))
    (first / "samples/blind.jsonl").unlink()
    run(config, adapter)
    assert_same_records(read(first), read(clean))


def assert_same_records(got: dict, want: dict) -> None:
    """Task -> records equal field for field; option scores to float rounding (a request
    computed in another batch may differ in the last bits: README, "One writer, any state")."""
    assert got.keys() == want.keys()
    for task in want:
        assert len(got[task]) == len(want[task])
        for a, b in zip(got[task], want[task]):
            assert {**a, "option_logprobs": None} == {**b, "option_logprobs": None}
            assert (a["option_logprobs"] is None) == (b["option_logprobs"] is None)
            if b["option_logprobs"] is not None:
                assert a["option_logprobs"] == pytest.approx(b["option_logprobs"], abs=1e-5)

def test_one_token_options_are_scored_from_generates_prefill(checkpoint):
    """yes/no scores come from the generate call's own forward pass: the same numbers as a
    separate scoring pass, without one."""
    adapter = NativeAdapter("ckpt", checkpoint, cache=FeatureCache())
    requests = [replace(r, options=("yes", "no"), max_new_tokens=1) for r in _requests(n_images=4)]
    separate = adapter.score(requests)  # no generate before it: its own forward pass
    adapter.generate(requests)
    from_prefill = adapter.score(requests)
    assert adapter.counters()["scored_from_prefill"] == len(requests)
    for a, b in zip(from_prefill, separate):
        assert a == pytest.approx(b, abs=1e-4)


def test_run_records_encoder_calls_equal_to_unique_images(checkpoint, tmp_path):
    adapter = NativeAdapter(str(checkpoint), checkpoint, cache=FeatureCache())
    config = RunConfig(model=str(checkpoint), tasks=("pope",), limit=4, out=tmp_path / "r")
    result = run(config, adapter)
    meta = json.loads((result.run_dir / "run.json").read_text())
    assert meta["model"]["adapter"] == "NativeAdapter"
    assert meta["tasks"][0]["n_requests"] == 4 * 3 * 6  # 4 images, 3 settings, 6 questions
    counters = meta["attempts"][-1]["counters"]
    assert counters.pop("prefix_calls", 4) == 4  # prefix connectors: once per image
    # POPE's three settings ask about the same present objects: those questions are computed
    # once, each setting keeps its own record (the runner copies the answers).
    records = [json.loads(line) for line in (result.run_dir / "samples/pope.jsonl").open()]
    distinct = {(r["image"]["sha256"], r["prompt"]) for r in records}
    assert counters == {"encoder_calls": 4, "scored_from_prefill": len(distinct),
                        "images_prefetched": 0}  # one batch: no next batch to decode ahead
    assert meta["attempts"][-1]["answers_copied"] == 72 - len(distinct) > 0
    assert meta["model"]["image_tokens"] == adapter.model.image_tokens


def _records(run_dir):
    return [{k: v for k, v in json.loads(line).items() if k != "latency_ms"}
            for line in (run_dir / "samples/pope.jsonl").open()]


def _image_files(folder, n_images: int) -> list:
    """The scenes world's first images saved as PNG files, as file references (prefetch
    decodes files and datasets; generated images are drawn when needed)."""
    import hashlib

    from vlmeval.records import ImageRef

    folder.mkdir(exist_ok=True)
    refs = []
    for i, s in enumerate(scenes_samples("eval", n_images)):
        path = folder / f"{i}.png"
        load_images([s.image])[0].save(path)
        refs.append(ImageRef("file", str(path), hashlib.sha256(path.read_bytes()).hexdigest()))
    return refs


def test_images_decoded_ahead_in_a_thread_give_the_same_records(checkpoint, tmp_path):
    """The runner tells the adapter the next batch; its images (from files) are decoded in a
    background thread while the current batch computes. The same records, encoder calls and
    metrics as decoding each when its batch computes."""
    _image_files(tmp_path / "img", 4)
    rows = [{"image": f"img/{i}.png", "question": f"Is there a {obj} in the image?", "answer": label}
            for i in range(4) for obj, label in (("star", "yes"), ("moon", "no"), ("circle", "yes"))]
    data = tmp_path / "coco_pope_random.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    runs = {}
    for prefetch in (True, False):
        adapter = NativeAdapter(str(checkpoint), checkpoint, cache=FeatureCache(), prefetch=prefetch)
        config = RunConfig(model=str(checkpoint), tasks=("pope",), data={"": data}, batch_size=2,
                           out=tmp_path / str(prefetch))
        result = run(config, adapter)
        meta = json.loads((result.run_dir / "run.json").read_text())
        runs[prefetch] = _records(result.run_dir), meta, result.results["tasks"]["pope"]["metrics"]
    (ahead, meta, metrics), (inline, plain, plain_metrics) = runs[True], runs[False]
    assert ahead == inline and len(ahead) == 12 and metrics == plain_metrics
    counters = meta["attempts"][-1]["counters"]
    assert counters["encoder_calls"] == plain["attempts"][-1]["counters"]["encoder_calls"] == 4
    # batches of 2 over 3 questions an image: images are decoded ahead, each at most once (the
    # first batch's too, where the second batch shows it as well)
    assert 0 < counters["images_prefetched"] <= 4
    assert plain["attempts"][-1]["counters"]["images_prefetched"] == 0
    assert "background thread" in meta["model"]["image_decoding"]
    assert "prefetch=false" in plain["model"]["image_decoding"]


def test_images_decoded_ahead_serve_only_the_next_batch(checkpoint, tmp_path):
    adapter = NativeAdapter(str(checkpoint), checkpoint, cache=FeatureCache())
    plain = NativeAdapter(str(checkpoint), checkpoint, cache=FeatureCache(), prefetch=False)
    refs = _image_files(tmp_path, 3)
    requests = [replace(r, image=refs[i // 2])  # two questions on each of three images
                for i, r in enumerate(_requests(3)[:6])]
    a, b, c = requests[0:2], requests[2:4], requests[4:]
    adapter.prefetch(a)
    adapter.prefetch(b)  # a is the batch computed now: kept
    adapter.prefetch(c)  # a's image is dropped (computed before it); b's and c's are kept
    for batch in (a, b, c):
        assert adapter.generate(batch) == plain.generate(batch)
    assert adapter.counters()["images_prefetched"] == 2  # b's image and c's
    assert adapter.counters()["encoder_calls"] == plain.counters()["encoder_calls"] == 3
    adapter.prefetch(a)  # features kept: nothing to decode
    assert adapter._decoded == {}
    adapter.prefetch(_requests(5)[8:])  # generated images are drawn when needed, not ahead
    assert adapter._decoded == {}


def test_an_image_that_fails_in_the_thread_fails_its_request_only(checkpoint, tmp_path):
    from vlmeval.records import ImageRef
    from vlmeval.runner import predict

    missing = ImageRef("file", str(tmp_path / "missing.png"), "")
    refs = _image_files(tmp_path, 2)
    requests = [replace(r, image=refs[i // 2]) for i, r in enumerate(_requests(2)[:4])]
    first, second = requests[:2], [requests[2], replace(requests[3], image=missing)]
    out = {}
    for prefetch in (True, False):
        adapter = NativeAdapter(str(checkpoint), checkpoint, cache=FeatureCache(), prefetch=prefetch)
        adapter.prefetch(second)
        out[prefetch] = predict(adapter, first) + predict(adapter, second)
    assert [(p.raw, p.error) for p in out[True]] == [(p.raw, p.error) for p in out[False]]
    assert [p.error is not None for p in out[True]] == [False, False, False, True]
    assert "missing.png" in out[True][3].error
    assert out[True][2].raw is not None


def test_models_with_the_same_encoder_share_its_features(checkpoint, tmp_path):
    cache = FeatureCache()
    first = NativeAdapter("a", checkpoint, cache=cache)
    first.generate(_requests())
    other = tmp_path / "other"
    train(recipe_for("linear", train_images=64, steps={"encoder": 3, "lm": 3, "align": 1,
                                                       "instruct": 1}, **TINY), other)
    second = NativeAdapter("b", other, cache=cache)  # same recipe and seed: the same encoder
    assert second.encoder_fingerprint == first.encoder_fingerprint
    second.generate(_requests())
    assert (first.counters()["encoder_calls"], second.counters()["encoder_calls"]) == (3, 0)


def test_model_directory_detection_and_forced_adapter(checkpoint, tmp_path):
    assert isinstance(resolve_model(str(checkpoint)), NativeAdapter)
    assert isinstance(resolve_model(str(checkpoint), adapter="native"), NativeAdapter)
    with pytest.raises(UnknownName, match="did you mean 'native'"):
        resolve_model(str(checkpoint), adapter="nativ")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava"}))
    with pytest.raises(ConfigError, match="no adapter recognises.*--adapter"):
        resolve_model(str(tmp_path))
    with pytest.raises(ConfigError, match="no such directory"):
        resolve_model("./missing-ckpt")


def test_parse_steps_names_the_bad_part():
    assert parse_steps("encoder=5, instruct=7") == {"encoder": 5, "instruct": 7}
    with pytest.raises(ConfigError, match="'instrct=7'"):
        parse_steps("instrct=7")


def test_train_then_run_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "ckpt"
    assert cli.main(["train", "--connector", "linear", "--out", str(out), "--train-images", "32",
                     "--steps", "encoder=2,lm=2,align=2,instruct=2"]) == 0
    assert "checkpoint:" in capsys.readouterr().out
    assert cli.main(["run", "--model", str(out), "--tasks", "pope", "--limit", "2",
                     "--out", str(tmp_path / "run")]) == 0
    assert "random" in capsys.readouterr().out
    assert cli.main(["train", "--connector", "lineer", "--out", str(out)]) == 2
    assert "did you mean 'linear'" in capsys.readouterr().err


def test_prompt_template_puts_the_image_first_and_knows_every_word():
    tok = build_tokenizer(curriculum.vocabulary_corpus())
    ids = template.prompt_ids(tok, "Is there a star in the image?", 3)
    assert ids[0] == BOS and ids[1:4] == [IMAGE] * 3 and IMAGE not in ids[4:]
    assert UNK not in ids
    rng = random.Random(0)
    for i in range(200):  # every training question, answer and grid word is in the vocabulary
        scene = scenes.scene("train", i)
        q, a = curriculum.instruction(scene, rng)
        t = curriculum.text_skill(rng)
        for text in (q, a, *t, " ".join(curriculum.word_grid(scene, 4))):
            assert UNK not in tok.encode(text).ids, text
        grid = template.prompt_ids(tok, q, 0, curriculum.word_grid(scene, 4))
        assert grid[1:17] == [tok.token_to_id(w) for w in curriculum.word_grid(scene, 4)]


def test_word_grid_puts_each_object_in_the_cell_of_its_centre():
    for i in range(300):
        scene = scenes.scene("train", i)
        words = curriculum.word_grid(scene, 4)
        assert len(words) == 16
        for o in scene.objects:
            x, y = o.centre
            assert words[int(y) // 16 * 4 + int(x) // 16] in scene.categories
        # the world's layout keeps centres in distinct cells, so counting words counts objects
        for c in scenes.CATEGORIES:
            assert words.count(c) == scene.count(c)


def test_base_directory_is_reused_only_with_the_same_recipe(tmp_path):
    steps = {"encoder": 2, "lm": 2, "align": 1, "instruct": 1}
    first = train(recipe_for("linear", train_images=32, steps=steps, **TINY), tmp_path / "a",
                  base=tmp_path / "base")
    second = train(recipe_for("resampler", train_images=32, steps=steps, **TINY), tmp_path / "b",
                   base=tmp_path / "base")
    assert second["losses"]["encoder"] == first["losses"]["encoder"]
    a, b = NativeAdapter("a", tmp_path / "a"), NativeAdapter("b", tmp_path / "b")
    assert a.encoder_fingerprint == b.encoder_fingerprint
    with pytest.raises(ConfigError, match="base.json: this base was trained with a different"):
        train(recipe_for("linear", seed=1, train_images=32, steps=steps, **TINY), tmp_path / "c",
              base=tmp_path / "base")


def test_cross_attn_learns_to_read_the_word_grid_in_lm_pretraining(tmp_path):
    """Its gated layers train in the LM stage (the grid in their memory), so the base holds them,
    and a prefix connector cannot reuse that base."""
    steps = {"encoder": 2, "lm": 3, "align": 1, "instruct": 1}
    train(recipe_for("cross_attn", train_images=32, steps=steps, **TINY), tmp_path / "x",
          base=tmp_path / "base")
    gates = load_file(str(tmp_path / "base" / "connector.safetensors"))
    assert any(float(v.abs().sum()) > 0 for k, v in gates.items() if k.endswith("gate"))
    with pytest.raises(ConfigError, match="base.json: this base was trained with a different"):
        train(recipe_for("linear", train_images=32, steps=steps, **TINY), tmp_path / "l",
              base=tmp_path / "base")
    a = train(recipe_for("cross_attn", train_images=32, steps=steps, **TINY), tmp_path / "y")
    b = train(recipe_for("cross_attn", train_images=32, steps=steps, **TINY), tmp_path / "z",
              base=tmp_path / "base")  # reusing the base reproduces the weights
    assert a["losses"] == b["losses"]
    wa, wb = (load_file(str(tmp_path / d / "model.safetensors")) for d in "yz")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_patch_labels_mark_every_object_once_at_its_centre():
    from vlmeval.vlm.pretrain import patch_labels
    labels = patch_labels(50, 8, 64)  # (50, 64, 4)
    for i in range(50):
        scene = scenes.scene("train", i)
        centred = labels[i, :, 3]
        assert int((centred > 0).sum()) == len(scene.objects)
        for o in scene.objects:
            x, y = o.centre
            cell = int(y) // 8 * 8 + int(x) // 8
            assert int(centred[cell]) == scenes.CATEGORIES.index(o.category) + 1
            assert int(labels[i, cell, 0]) == int(centred[cell])  # the centre patch is covered


def test_training_again_reproduces_the_weights(tmp_path):
    steps = {"encoder": 2, "lm": 2, "align": 2, "instruct": 2}
    recipe = recipe_for("mlp2x_gelu", train_images=32, steps=steps, **TINY)
    a = train(recipe, tmp_path / "a")
    b = train(recipe, tmp_path / "b", base=tmp_path / "base")  # --base changes nothing either
    assert a["losses"] == b["losses"]
    wa, wb = (load_file(str(tmp_path / d / "model.safetensors")) for d in "ab")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_prefix_cache_model_arg(checkpoint):
    off = resolve_model(str(checkpoint), options={"prefix_cache": "0"})
    assert off.prefixes is None and off.info()["image_prefix"] == "in every request's prefill"
    with pytest.raises(ConfigError, match="prefix_cache=many: expected a number of images"):
        resolve_model(str(checkpoint), options={"prefix_cache": "many"})
    assert resolve_model(str(checkpoint), options={"prefetch": "false"}).prefetch_images is False
    zoo = resolve_model("zoo:scenes-linear", options={"prefix_cache": "0", "prefetch": "false"})
    assert zoo.prefixes is None and zoo.prefetch_images is False  # the shipped ones read them too
    with pytest.raises(ConfigError, match="--model-arg dtype: not an option of vlmeval checkpoints"):
        resolve_model("zoo:scenes-linear", options={"dtype": "float16"})
    with pytest.raises(ConfigError, match="--model-arg dtype: not an option of vlmeval checkpoints"):
        resolve_model(str(checkpoint), options={"dtype": "float16"})
