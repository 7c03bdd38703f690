"""One small local source per task that reads --data (the formats users bring), built on the
spot from scenes images. A task that reads --data must have an entry here: the contract test
fails for one that has none."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from test_data_sources import (N_IMAGES, _pope_rows, _rows, _save_images, build_coco_captions,
                               build_coco_instances, build_vqav2)
from vlmeval.data import scenes

# A fixture builds into a folder and returns (the --data path, the --images folder or None).
Fixture = Callable[[Path], "tuple[Path, Path | None]"]


def _manifest(folder: Path, name: str, rows: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def vqa_files(folder: Path):
    return build_vqav2(folder), None


def vqa_manifest(folder: Path):
    _save_images(folder / "img", "{}.png")
    for i in range(N_IMAGES):
        (folder / "img" / f"{100 + i}.png").rename(folder / "img" / f"{i}.png")
    return _manifest(folder, "manifest.jsonl", _rows()), None


def captions(folder: Path):
    return build_coco_captions(folder), None


def chair_instances(folder: Path):
    path = build_coco_instances(folder, n_images=N_IMAGES)
    build_coco_captions(folder)  # captions_val2014.json beside the instances
    return path, None


def pope_instances(folder: Path):
    return build_coco_instances(folder), None


def pope_question_file(folder: Path):
    _save_images(folder / "val2014")
    return _manifest(folder, "coco_pope_adversarial.json", _pope_rows()), folder / "val2014"


def counting_manifest(folder: Path):
    _save_images(folder, "{}.png")
    rows = [{"image": f"{100 + i}.png", "question": "How many shapes are there?",
             "answers": [str(len(scenes.scene("eval", i).objects))]}
            for i in range(N_IMAGES)]
    return _manifest(folder, "count.jsonl", rows), None


def spatial_manifest(folder: Path):
    _save_images(folder, "{}.png", n=2)
    rows = [{"image": "100.png", "question": "Is the cat left of the dog?", "answer": "yes",
             "relation": "left", "pair": 1},
            {"image": "100.png", "question": "Is the dog left of the cat?", "answer": "no",
             "relation": "left", "pair": 1},
            {"image": "101.png", "question": "Is the cup on the table?", "answer": "yes",
             "relation": "on"}]
    return _manifest(folder, "spatial.jsonl", rows), None


def mc_file(folder: Path):
    rows = [{"id": f"q{i}", "question": f"Which is shape {i}?", "choices": ["star", "moon", "heart"],
             "answer": i % 3} for i in range(6)]
    return _manifest(folder, "mc.jsonl", rows), None


def _placeholders(folder: Path, names) -> None:
    """Generated images under the names a benchmark's file gives (each its own colour)."""
    from PIL import Image

    for i, name in enumerate(names):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (16, 16), (i % 256, i // 256 % 256, 160)).save(path)  # all distinct


def _parquet(path: Path, rows: list[dict]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


# HallusionBench.json's layout: (category, subcategory, set_id, figure_id, question_id,
# visual_input, gt_answer, question); tests/test_benchmarks.py derives its metrics by hand.
HALLUSION_ROWS = [
    ("VS", "chart", "0", "0", "0", "0", "1", "Is the bar for 2018 taller than the bar for 2017?"),
    ("VS", "chart", "0", "1", "0", "1", "1", "Is the bar for 2018 taller than the bar for 2017?"),
    ("VS", "chart", "0", "2", "0", "2", "0", "Is the bar for 2018 taller than the bar for 2017?"),
    ("VD", "illusion", "0", "0", "0", "1", "0", "Is there a star in the image?"),
    ("VD", "illusion", "0", "0", "1", "1", "1", "Are the two lines the same length?"),
    ("VD", "illusion", "0", "1", "0", "2", "1", "Is there a star in the image?"),
    ("VD", "illusion", "0", "1", "1", "2", "0", "Are the two lines the same length?"),
]


def hallusionbench_file(folder: Path):
    rows = [{"category": c, "subcategory": s, "visual_input": v, "set_id": set_id,
             "figure_id": f, "sample_note": "fixture", "question_id": q, "question": text,
             "gt_answer_details": "", "gt_answer": gt,
             "filename": None if v == "0" else f"./{c}/{s}/{set_id}_{f}.png"}
            for c, s, set_id, f, q, v, gt, text in HALLUSION_ROWS]
    folder.mkdir(parents=True, exist_ok=True)
    _placeholders(folder / "images", sorted({r["filename"] for r in rows if r["filename"]}))
    path = folder / "HallusionBench.json"
    path.write_text(json.dumps(rows, indent=1))
    return path, folder / "images"


# AMBER's data/ layout: annotations.json (by id) and query/query_all.json.
AMBER_ROWS = [  # (type, truth, image, query)
    ("generative", ["tree", "sky"], "AMBER_1.jpg", "Describe this image."),
    ("discriminative-hallucination", "yes", "AMBER_1.jpg", "Is there a tree in this image?"),
    ("discriminative-hallucination", "no", "AMBER_1.jpg", "Is there a dog in this image?"),
    ("discriminative-attribute-state", "no", "AMBER_2.jpg", "Is the sky cloudy in this image?"),
    ("discriminative-attribute-number", "yes", "AMBER_2.jpg", "Are there two cars in this image?"),
    ("discriminative-attribute-action", "no", "AMBER_2.jpg", "Is the man running in this image?"),
    ("discriminative-relation", "yes", "AMBER_3.jpg", "Is the cup on the table in this image?"),
    ("relation", "no", "AMBER_3.jpg", "Is there direct contact between the cup and wall?"),
]


def amber_folder(folder: Path):
    data = folder / "data"
    (data / "query").mkdir(parents=True, exist_ok=True)
    annotations = [{"id": i, "type": t, "truth": truth, **({"hallu": ["dog"]} if t == "generative" else {})}
                   for i, (t, truth, _, _) in enumerate(AMBER_ROWS, 1)]
    queries = [{"id": i, "image": image, "query": q} for i, (_, _, image, q) in enumerate(AMBER_ROWS, 1)]
    (data / "annotations.json").write_text(json.dumps(annotations))
    (data / "query" / "query_all.json").write_text(json.dumps(queries))
    _placeholders(folder / "images", sorted({image for _, _, image, _ in AMBER_ROWS}))
    return data, folder / "images"


# MME: (subtask, image, [(question, answer), (question, answer)]); artwork in the
# images/ + questions_answers_YN/ layout, the others with each .txt beside its image.
MME_ITEMS = [
    ("existence", "000.png", [("Is there a star in the image? Please answer yes or no.", "Yes"),
                              ("Is there a dog in the image? Please answer yes or no.", "No")]),
    ("existence", "001.png", [("Is there a circle in the image? Please answer yes or no.", "No"),
                              ("Is there a cat in the image? Please answer yes or no.", "Yes")]),
    ("artwork", "10002.jpg", [("Is this artwork created by Vincent van Gogh? Please answer yes or no.", "Yes"),
                              ("Is this artwork created by Claude Monet? Please answer yes or no.", "No")]),
]


def mme_folder(folder: Path):
    root = folder / "MME_Benchmark_release_version"
    for subtask, image, qa in MME_ITEMS:
        nested = subtask == "artwork"
        images = root / subtask / ("images" if nested else "")
        texts = root / subtask / ("questions_answers_YN" if nested else "")
        _placeholders(images, [image])
        texts.mkdir(parents=True, exist_ok=True)
        (texts / f"{Path(image).stem}.txt").write_text("".join(f"{q}\t{a}\n" for q, a in qa))
    return root, None


def mme_parquet(folder: Path):
    """The same items in the parquet layout toolkits distribute (image bytes embedded)."""
    mme_folder(folder)
    root = folder / "MME_Benchmark_release_version"
    rows = []
    for subtask, image, qa in MME_ITEMS:
        path = next(root.glob(f"{subtask}/**/{image}"))
        for q, a in qa:
            rows.append({"question_id": f"{subtask}/{image}", "image": {"bytes": path.read_bytes(), "path": None},
                         "question": q, "answer": a, "category": subtask})
    return _parquet(folder / "mme.parquet", rows), None


# MMStar's parquet layout: the options inside the question text, the answer a letter.
MMSTAR_ROWS = [  # (category, l2_category, question, answer)
    ("coarse perception", "image emotion",
     "What is the mood of the image?\nOptions: A: happy, B: sad, C: angry, D: calm", "A"),
    ("coarse perception", "image scene and topic",
     "Where was the picture taken?\nOptions: A: a beach, B: a forest, C: a city, D: a desert", "C"),
    ("math", "geometry",
     "How many sides does the shape have?\nOptions: A: 3, B: 4, C: 5, D: 6", "B"),
    ("math", "numeric commonsense and calculation",
     "What is 2 + 2?\nOptions: A: 3, B: 5, C: 22, D: 4", "D"),
]


def mmstar_parquet(folder: Path):
    _placeholders(folder / "img", [f"{i}.png" for i in range(len(MMSTAR_ROWS))])
    rows = [{"index": i, "question": q, "image": {"bytes": (folder / "img" / f"{i}.png").read_bytes(), "path": None},
             "answer": a, "category": c, "l2_category": l2, "meta_info": {"source": "fixture"}}
            for i, (c, l2, q, a) in enumerate(MMSTAR_ROWS)]
    return _parquet(folder / "mmstar.parquet", rows), None


# NaturalBench: two rows; the yes/no one follows the authors' design (question 0 yes on
# image 0, no on image 1; question 1 the reverse), the multiple-choice one with A/B.
NATURALBENCH_ROWS = [
    ("yes_no", "Is there a star in the image?", "Is there a dog in the image?", "Yes", "No", "No", "Yes"),
    ("multiple_choice", "Which shape is red? A. the star B. the ring",
     "Which shape is blue? A. the star B. the ring", "A", "B", "B", "A"),
]


def naturalbench_parquet(folder: Path):
    _placeholders(folder / "img", [f"{i}.png" for i in range(4)])
    image = lambda i: {"bytes": (folder / "img" / f"{i}.png").read_bytes(), "path": None}  # noqa: E731
    rows = [{"Index": n, "Image_0": image(2 * n), "Image_1": image(2 * n + 1), "Question_0": q0,
             "Question_1": q1, "Image_0_Question_0": a00, "Image_1_Question_0": a10,
             "Image_0_Question_1": a01, "Image_1_Question_1": a11, "Question_Type": kind,
             "Source": "fixture"}
            for n, (kind, q0, q1, a00, a10, a01, a11) in enumerate(NATURALBENCH_ROWS)]
    return _parquet(folder / "naturalbench.parquet", rows), None


# VSR split file: (image, caption, label, relation)
VSR_ROWS = [
    ("000000000001.jpg", "The star is left of the ring.", 1, "left of"),
    ("000000000001.jpg", "The star is right of the ring.", 0, "right of"),
    ("000000000002.jpg", "The cup is on the table.", 1, "on"),
    ("000000000002.jpg", "The cup is under the table.", 0, "under"),
    ("000000000003.jpg", "The dog is left of the cat.", 0, "left of"),
]


def vsr_file(folder: Path):
    _placeholders(folder / "images", sorted({r[0] for r in VSR_ROWS}))
    rows = [{"image": im, "image_link": "", "caption": c, "label": lab, "relation": rel,
             "subj": c.split()[1], "obj": c.split()[-1].rstrip("."), "annotator_id": 0,
             "vote_true_validator_id": [], "vote_false_validator_id": []}
            for im, c, lab, rel in VSR_ROWS]
    return _manifest(folder, "test.jsonl", rows), folder / "images"


# TallyQA test.json: (image, question, answer, issimple)
TALLYQA_ROWS = [
    ("VG_100K/1.jpg", "How many stars are there?", 2, True),
    ("VG_100K/1.jpg", "How many red stars are there?", 1, False),
    ("val2014/COCO_val2014_000000000002.jpg", "How many dogs are there?", 0, True),
    ("val2014/COCO_val2014_000000000002.jpg", "How many dogs are sitting?", 3, False),
]


def tallyqa_file(folder: Path):
    _placeholders(folder / "images", sorted({r[0] for r in TALLYQA_ROWS}))
    rows = [{"image": im, "answer": a, "data_source": "amt", "question": q, "image_id": im.split("/")[-1],
             "question_id": 100 + i, "issimple": simple}
            for i, (im, q, a, simple) in enumerate(TALLYQA_ROWS)]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "test.json").write_text(json.dumps(rows))
    return folder / "test.json", folder / "images"


COUNTBENCH_NUMBERS = [2, 3, 5, 2]


def countbench_parquet(folder: Path):
    _placeholders(folder / "img", [f"{i}.png" for i in range(len(COUNTBENCH_NUMBERS))])
    rows = [{"image": {"bytes": (folder / "img" / f"{i}.png").read_bytes(), "path": None},
             "text": f"{n} stars on a table", "question": "How many stars are there in the image?",
             "number": n} for i, n in enumerate(COUNTBENCH_NUMBERS)]
    return _parquet(folder / "countbench.parquet", rows), None


DATA_FIXTURES: dict[str, dict[str, Fixture]] = {
    "naturalbench": {"parquet": naturalbench_parquet},
    "vsr": {"split_file": vsr_file},
    "tallyqa": {"test_json": tallyqa_file},
    "countbench": {"countbenchqa_parquet": countbench_parquet},
    "mmstar": {"parquet": mmstar_parquet},
    "mme": {"release_folder": mme_folder, "parquet": mme_parquet},
    "hallusionbench": {"authors_json": hallusionbench_file},
    "amber": {"authors_data_folder": amber_folder},
    "vqa": {"vqav2": vqa_files, "manifest": vqa_manifest},
    "captioning": {"coco_captions": captions},
    "chair": {"coco_instances": chair_instances},
    "pope": {"coco_instances": pope_instances, "question_file": pope_question_file},
    "counting": {"manifest": counting_manifest},
    "spatial": {"manifest": spatial_manifest},
    "text_mc": {"jsonl": mc_file},
}
