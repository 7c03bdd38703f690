"""--data: VQAv2 files, COCO captions, JSONL manifests and local HF datasets, built here."""

from __future__ import annotations

import json

import pytest

from vlmeval.adapters.baselines import AlwaysYesAdapter, OracleAdapter, _Baseline
from vlmeval.cli import main
from vlmeval.data import scenes
from vlmeval.data.sources import load_samples
from vlmeval.errors import DataError
from vlmeval.runner import RunConfig, run

N_IMAGES = 6


def _image_ids():
    return [100 + i for i in range(N_IMAGES)]


def _save_images(folder, name="COCO_val2014_{:012d}.jpg", n=N_IMAGES):
    folder.mkdir(parents=True, exist_ok=True)
    for i, image_id in enumerate(100 + k for k in range(n)):
        scenes.render(scenes.scene("eval", i)).save(folder / name.format(image_id), quality=95)


def _colour_answers(i):
    """Ten answers about scene i's first object: 4 say its colour, 3 'dark', 3 'light'."""
    o = scenes.scene("eval", i).objects[0]
    return o.category, [o.colour] * 4 + ["dark"] * 3 + ["light"] * 3


def build_vqav2(folder):
    """A small pair of official-format files and COCO-named images in folder/val2014."""
    questions, annotations = [], []
    for i, image_id in enumerate(_image_ids()):
        category, answers = _colour_answers(i)
        qid = image_id * 10
        questions.append({"image_id": image_id, "question": f"What colour is the {category}?",
                          "question_id": qid})
        annotations.append({
            "question_type": "what color is the", "multiple_choice_answer": answers[0],
            "answers": [{"answer": a, "answer_confidence": "yes", "answer_id": k + 1}
                        for k, a in enumerate(answers)],
            "image_id": image_id, "answer_type": "other", "question_id": qid})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "v2_OpenEnded_mscoco_val2014_questions.json").write_text(json.dumps(
        {"info": {}, "task_type": "Open-Ended", "data_type": "mscoco",
         "data_subtype": "val2014", "questions": questions, "license": {}}))
    (folder / "v2_mscoco_val2014_annotations.json").write_text(json.dumps(
        {"info": {}, "license": {}, "data_subtype": "val2014", "annotations": annotations}))
    _save_images(folder / "val2014")
    return folder


class SaysDark(_Baseline):
    def answer(self, request):
        return "Dark."


def test_vqav2_files_run_through_data_with_official_accuracy(tmp_path, capsys):
    folder = build_vqav2(tmp_path / "vqav2")
    code = main(["run", "--model", "baseline:oracle", "--tasks", "vqa", "--data", str(folder),
                 "--out", str(tmp_path / "oracle")])
    assert code == 0
    results = json.loads((tmp_path / "oracle" / "results.json").read_text())["tasks"]["vqa"]
    assert results["metrics"]["accuracy"]["value"] == 1.0  # 4 of 10 humans agree: min(1, 4/3)
    assert results["metrics"]["accuracy"]["n"] == N_IMAGES
    assert "question_type/what color is the/accuracy" in results["metrics"]
    run_json = json.loads((tmp_path / "oracle" / "run.json").read_text())
    assert run_json["tasks"][0]["args"]["data"] == str(folder)
    # "dark": 3 of 10 humans -> leave-one-out mean of min(1, matches/3) = 0.9 (official rule)
    result = run(RunConfig(model="dark", tasks=("vqa",), data={"vqa": folder},
                           out=tmp_path / "dark"), SaysDark("dark"))
    assert result.results["tasks"]["vqa"]["metrics"]["accuracy"]["value"] == pytest.approx(0.9)


def build_coco_captions(folder):
    images, annotations = [], []
    for i, image_id in enumerate(_image_ids()):
        images.append({"id": image_id, "file_name": f"COCO_val2014_{image_id:012d}.jpg",
                       "width": 64, "height": 64})
        o = scenes.scene("eval", i).objects[0]
        for k, text in enumerate([f"A {o.colour} {o.category} on a white background.",
                                  f"There is a {o.category}.", f"A {o.size} {o.category}."]):
            annotations.append({"id": image_id * 10 + k, "image_id": image_id, "caption": text})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "captions_val2014.json"
    path.write_text(json.dumps({"info": {}, "licenses": [], "images": images,
                                "annotations": annotations}))
    _save_images(folder / "val2014")
    return path


def test_coco_captions_json_runs_through_data(tmp_path):
    path = build_coco_captions(tmp_path / "coco")
    result = run(RunConfig(model="baseline:oracle", tasks=("captioning",), data={"": path},
                           out=tmp_path / "run"), OracleAdapter("baseline:oracle"))
    metrics = result.results["tasks"]["captioning"]["metrics"]
    assert metrics["bleu_4"]["value"] == pytest.approx(1.0)
    assert metrics["rouge_l"]["n"] == N_IMAGES
    samples = load_samples(path, "captioning")
    assert len(samples[0].fields["answers"]) == 3 and samples[0].image.source == "file"


def _rows():
    rows = []
    for i in range(N_IMAGES):
        category, answers = _colour_answers(i)
        rows.append({"id": f"q{i}", "image": f"img/{i}.png", "question":
                     f"What colour is the {category}?", "answers": answers, "task": "vqa",
                     "answer_type": "other", "question_type": "what color is the"})
    rows.append({"image": "img/0.png", "question": "", "answers": ["a shape"], "task": "captioning"})
    return rows


def test_jsonl_manifest_keeps_the_rows_of_the_task(tmp_path):
    _save_images(tmp_path / "img", "{}.png")
    for i in range(N_IMAGES):  # _save_images names files by image id; rename to row index
        (tmp_path / "img" / f"{100 + i}.png").rename(tmp_path / "img" / f"{i}.png")
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in _rows()) + "\n")
    assert len(load_samples(manifest, "vqa")) == N_IMAGES
    assert len(load_samples(manifest, "captioning")) == 1
    result = run(RunConfig(model="baseline:oracle", tasks=("vqa",), data={"vqa": manifest},
                           out=tmp_path / "run"), OracleAdapter("baseline:oracle"))
    assert result.results["tasks"]["vqa"]["metrics"]["accuracy"]["value"] == 1.0


def test_hf_save_to_disk_and_parquet(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = [r for r in _rows() if r["task"] == "vqa"]
    table = {"question_id": [r["id"] for r in rows], "question": [r["question"] for r in rows],
             "answers": [[{"answer": a, "answer_id": k} for k, a in enumerate(r["answers"])]
                         for r in rows],
             "image_id": list(range(N_IMAGES)),
             "image": [scenes.render(scenes.scene("eval", i)) for i in range(N_IMAGES)]}
    ds = datasets.Dataset.from_dict(table, features=datasets.Features({
        "question_id": datasets.Value("string"), "question": datasets.Value("string"),
        "answers": [{"answer": datasets.Value("string"), "answer_id": datasets.Value("int32")}],
        "image_id": datasets.Value("int32"), "image": datasets.Image()}))
    datasets.DatasetDict({"validation": ds}).save_to_disk(str(tmp_path / "saved"))
    ds.to_parquet(str(tmp_path / "vqa.parquet"))
    for source in (tmp_path / "saved", tmp_path / "vqa.parquet"):
        samples = load_samples(source, "vqa")
        assert [s.fields["answers"][0] for s in samples] == [r["answers"][0] for r in rows]
        assert samples[0].image.source == "hf"
        result = run(RunConfig(model="baseline:oracle", tasks=("vqa",), data={"vqa": source},
                               out=tmp_path / source.stem), OracleAdapter("baseline:oracle"))
        metrics = result.results["tasks"]["vqa"]["metrics"]
        assert metrics["accuracy"]["value"] == 1.0 and metrics["accuracy"]["n"] == N_IMAGES
    from vlmeval.data import load_image

    image = load_image(load_samples(tmp_path / "saved", "vqa")[2].image)
    assert image.size == (scenes.IMAGE_SIZE, scenes.IMAGE_SIZE)


@pytest.mark.parametrize("mutate,message", [
    (lambda f: (f / "v2_mscoco_val2014_annotations.json").write_text('{"info": {}}'),
     "missing field 'annotations'"),
    (lambda f: (f / "val2014" / "COCO_val2014_000000000101.jpg").unlink(),
     "COCO_val2014_000000000101.jpg' not found"),
    (lambda f: (f / "v2_OpenEnded_mscoco_val2014_questions.json").write_text("{"),
     "not valid JSON"),
])
def test_bad_data_gives_a_one_line_error_naming_file_and_field(tmp_path, capsys, mutate, message):
    folder = build_vqav2(tmp_path / "vqav2")
    mutate(folder)
    code = main(["run", "--model", "baseline:oracle", "--tasks", "vqa", "--data", str(folder),
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1
    assert str(folder) in err


def test_data_usage_errors(tmp_path, capsys):
    assert main(["run", "--model", "baseline:oracle", "--tasks", "vqa",
                 "--data", str(tmp_path / "missing")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["run", "--model", "baseline:oracle", "--tasks", "vqa,counting",
                 "--data", str(tmp_path)]) == 2
    assert "--data TASK=PATH" in capsys.readouterr().err
    assert main(["run", "--model", "baseline:oracle", "--tasks", "text_gen",
                 "--data", str(tmp_path)]) == 2
    assert "reads only its built-in data" in capsys.readouterr().err
    with pytest.raises(DataError, match="no recognised dataset"):
        load_samples(tmp_path, "vqa")


def test_counting_reads_a_manifest_of_whole_numbers(tmp_path):
    _save_images(tmp_path, "{}.png")
    rows = [{"image": f"{100 + i}.png", "question": "How many shapes are there?",
             "answers": [str(n)], "task": "counting"} for i, n in enumerate([1, 2, 12, 2])]
    manifest = tmp_path / "count.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = run(RunConfig(model="baseline:oracle", tasks=("counting",), data={"": manifest},
                           out=tmp_path / "run"), OracleAdapter("baseline:oracle"))
    scored = result.results["tasks"]["counting"]
    assert scored["metrics"]["exact_accuracy"]["value"] == 1.0
    assert scored["metrics"]["majority_accuracy"]["value"] == 0.5  # "2" twice in four
    assert len(scored["confusion"]["matrix"]) == 13  # rows up to the largest gold, 12
    manifest.write_text(json.dumps({**rows[0], "answers": ["a few"]}) + "\n")
    with pytest.raises(DataError, match="whole number"):
        run(RunConfig(model="baseline:oracle", tasks=("counting",), data={"": manifest},
                      out=tmp_path / "bad"), OracleAdapter("baseline:oracle"))


def build_coco_instances(folder, n_images=30):
    """Scenes eval images as COCO instances: one annotation per object, categories by name."""
    cats = {c: i + 1 for i, c in enumerate(scenes.CATEGORIES)}
    images, annotations = [], []
    for i in range(n_images):
        image_id = 100 + i
        images.append({"id": image_id, "file_name": f"COCO_val2014_{image_id:012d}.jpg",
                       "width": 64, "height": 64})
        for k, o in enumerate(scenes.scene("eval", i).objects):
            x0, y0, x1, y1 = o.bbox
            annotations.append({"id": image_id * 100 + k, "image_id": image_id,
                                "category_id": cats[o.category], "bbox": [x0, y0, x1 - x0, y1 - y0],
                                "area": (x1 - x0) * (y1 - y0), "iscrowd": 0, "segmentation": []})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "instances_val2014.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": [
        {"id": i, "name": c, "supercategory": "shape"} for c, i in cats.items()]}))
    _save_images(folder / "val2014", n=n_images)
    return path


def test_pope_built_from_coco_instances_follows_the_protocol(tmp_path):
    from vlmeval.probes.pope import PopeProbe

    path = build_coco_instances(tmp_path / "coco")
    probe = PopeProbe(data=path)
    samples = probe.samples()
    expected = [i for i in range(30) if len(scenes.scene("eval", i).categories) >= 3]
    assert [s.id for s in samples] == [f"coco-{100 + i}" for i in expected]
    requests = probe.requests()
    by_setting = {s: [r for r in requests if r.meta["setting"] == s] for s in ("random", "popular", "adversarial")}
    positives = {s: [(r.sample_id, r.meta["object"]) for r in rs if r.target == "yes"]
                 for s, rs in by_setting.items()}
    assert positives["random"] == positives["popular"] == positives["adversarial"]  # shared
    assert all(len(rs) == 6 * len(samples) for rs in by_setting.values())
    result = run(RunConfig(model="baseline:oracle", tasks=("pope",), data={"": path},
                           out=tmp_path / "run"), OracleAdapter("baseline:oracle"))
    assert result.results["tasks"]["pope"]["metrics"]["mean/accuracy"]["value"] == 1.0


def _pope_rows():
    rows = []
    for i in range(N_IMAGES):
        scene = scenes.scene("eval", i)
        absent = next(c for c in scenes.CATEGORIES if c not in scene.categories)
        for obj, label in ((scene.categories[0], "yes"), (absent, "no")):
            rows.append({"question_id": len(rows) + 1, "image": f"COCO_val2014_{100 + i:012d}.jpg",
                         "text": f"Is there a {obj} in the image?", "label": label})
    return rows


def test_pope_question_files_and_the_hf_layout(tmp_path):
    datasets = pytest.importorskip("datasets")
    _save_images(tmp_path / "val2014")
    path = tmp_path / "coco_pope_adversarial.json"  # the official files: JSON lines, .json
    path.write_text("\n".join(json.dumps(r) for r in _pope_rows()) + "\n")
    result = run(RunConfig(model="baseline:always-yes", tasks=("pope",), data={"": path},
                           images=tmp_path / "val2014", out=tmp_path / "run"),
                 AlwaysYesAdapter("baseline:always-yes"))
    pope = result.results["tasks"]["pope"]
    assert pope["metrics"]["adversarial/false_positive_rate"]["value"] == 1.0
    assert pope["metrics"]["adversarial/accuracy"]["n"] == 2 * N_IMAGES
    assert "random/accuracy" not in pope["metrics"]  # only the file's setting
    rows = _pope_rows()
    table = {"question_id": [str(r["question_id"]) for r in rows],
             "question": [r["text"] for r in rows], "answer": [r["label"] for r in rows],
             "image_source": [r["image"][:-4] for r in rows],
             "category": ["popular" if k % 4 < 2 else "random" for k in range(len(rows))],
             "image": [scenes.render(scenes.scene("eval", k // 2)) for k in range(len(rows))]}
    datasets.Dataset.from_dict(table).cast_column("image", datasets.Image()).to_parquet(
        str(tmp_path / "pope.parquet"))
    result = run(RunConfig(model="baseline:oracle", tasks=("pope",), data={"": tmp_path / "pope.parquet"},
                           out=tmp_path / "hf"), OracleAdapter("baseline:oracle"))
    pope = result.results["tasks"]["pope"]
    assert pope["metrics"]["popular/accuracy"]["value"] == 1.0
    assert pope["n_images"] == N_IMAGES and set(pope["counts"]) == {"popular", "random"}


def test_chair_on_coco_instances_and_captions(tmp_path):
    from vlmeval.probes.chair import ChairProbe

    path = build_coco_instances(tmp_path / "coco", n_images=N_IMAGES)
    build_coco_captions(tmp_path / "coco")  # captions_val2014.json beside the instances
    probe = ChairProbe(data=path)
    requests = probe.requests()
    assert len(requests) == N_IMAGES and probe.table.source == "COCO category names"
    first = scenes.scene("eval", 0)
    assert requests[0].meta["objects"][: len(first.categories)] == list(first.categories)

    class Mentions(_Baseline):  # the first true object and, on odd images, one absent object
        def answer(self, request):
            absent = next(c for c in scenes.CATEGORIES if c not in request.meta["objects"])
            odd = int(request.sample_id.split("-")[1]) % 2
            return f"A {request.meta['objects'][0]}" + (f" and a {absent}." if odd else ".")

    result = run(RunConfig(model="m", tasks=("chair",), data={"": path}, out=tmp_path / "run"),
                 Mentions("m"))
    metrics = result.results["tasks"]["chair"]["metrics"]
    assert metrics["chair_s"]["value"] == pytest.approx(0.5)
    assert metrics["chair_i"]["value"] == pytest.approx(3 / 9)


def test_spatial_reads_a_manifest_with_relations_and_pairs(tmp_path):
    _save_images(tmp_path, "{}.png", n=2)
    rows = [{"image": "100.png", "question": "Is the cat left of the dog?", "answer": "yes",
             "relation": "left", "pair": 1, "task": "spatial"},
            {"image": "100.png", "question": "Is the dog left of the cat?", "answer": "no",
             "relation": "left", "pair": 1, "task": "spatial"},
            {"image": "101.png", "question": "Is the cup on the table?", "answer": "yes",
             "relation": "on", "task": "spatial"}]
    manifest = tmp_path / "spatial.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = run(RunConfig(model="baseline:always-yes", tasks=("spatial",), data={"": manifest},
                           out=tmp_path / "run"), AlwaysYesAdapter("baseline:always-yes"))
    metrics = result.results["tasks"]["spatial"]["metrics"]
    assert metrics["accuracy"]["value"] == pytest.approx(2 / 3)
    assert metrics["on/accuracy"]["value"] == 1.0 and metrics["left/accuracy"]["value"] == 0.5
    assert metrics["consistency"]["value"] == 0.0 and metrics["consistency"]["n"] == 1
