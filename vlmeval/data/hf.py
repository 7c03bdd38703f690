"""Local Hugging Face datasets: a `save_to_disk` folder or a parquet file, with an image column.

Columns read: `image` (an Image feature, or a struct of bytes/path as parquet stores it),
`question`, `answers` (strings, or VQAv2-style dicts with an `answer` key) or `answer`;
`captions`/`sentences` for captioning; optional `question_id`/`id`, `image_id` (the CI unit),
`answer_type`, `question_type`, `choices`, `task`. Nothing is downloaded and no cache is written:
parquet is read with pyarrow.
"""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache
from pathlib import Path

from PIL import Image

from vlmeval.data.jsonl import row_fields
from vlmeval.errors import DataError
from vlmeval.records import ImageRef, Sample

SPLITS = ("test", "validation", "val", "train")  # the split picked when a folder holds several


def is_saved_dataset(path: Path) -> bool:
    return path.is_dir() and ((path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file())


@lru_cache(maxsize=4)
def open_dataset(path: str, split: str):
    import datasets

    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        return datasets.Dataset(pq.read_table(path))
    data = datasets.load_from_disk(path)
    if isinstance(data, datasets.DatasetDict):
        data = data[split]
    for column, feature in data.features.items():
        if isinstance(feature, datasets.Image):
            data = data.cast_column(column, datasets.Image(decode=False))  # bytes, hashed as stored
    return data


def pick_split(path: Path) -> str:
    if path.suffix == ".parquet" or not (path / "dataset_dict.json").is_file():
        return ""
    import datasets

    names = list(datasets.load_from_disk(str(path)).keys())
    for name in (*SPLITS, *names):
        if name in names:
            return name
    raise DataError(f"{path}: dataset_dict.json lists no splits")


def image_bytes(value: object, where: str, root: Path) -> bytes:
    """The stored image's bytes; an image stored as a path must lie inside the dataset's folder
    (`root`), like the images a manifest names."""
    if isinstance(value, dict) and value.get("bytes"):
        return value["bytes"]
    if isinstance(value, dict) and value.get("path"):
        path = (root / str(value["path"])).resolve()
        if not path.is_relative_to(root.resolve()) or not path.is_file():
            raise DataError(f"{where}: image path {value['path']!r} is not a file inside "
                            f"{root}; store the images' bytes in the dataset (datasets.Image) or "
                            f"keep the files beside it")
        return path.read_bytes()
    if isinstance(value, Image.Image):
        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        return buffer.getvalue()
    raise DataError(f"{where}: column 'image' holds {type(value).__name__}, not an image; store "
                    f"images with datasets.Image()")


def root_of(path: Path) -> Path:
    """The folder a dataset's stored image paths are relative to."""
    return path.parent if path.suffix == ".parquet" else path


def image_key(path: Path, split: str, row: int, column: str = "image") -> str:
    """"path#split#row" for the `image` column, "path#split#row#column" for another (NaturalBench
    holds two images per row)."""
    return f"{path.resolve()}#{split}#{row}" + ("" if column == "image" else f"#{column}")


def load_bytes(key: str) -> bytes:
    """The stored bytes of the image an `image_key` names."""
    head, _, last = key.rpartition("#")
    path_split_row, column = (key, "image") if last.isdigit() else (head, last)
    path, split, row = path_split_row.rsplit("#", 2)
    value = open_dataset(path, split)[int(row)][column]
    return image_bytes(value, key, root_of(Path(path)))


def load_image(key: str) -> Image.Image:
    from vlmeval.data import checked

    return checked(Image.open(io.BytesIO(load_bytes(key))), key)


def rows(path: Path, image_columns: tuple[str, ...] = ("image",)):
    """(where, row, image ref or None) for each row of a local dataset: a parquet file (the
    layout evaluation toolkits distribute benchmarks in, image bytes embedded) or a
    save_to_disk folder; with several image_columns, {column: ref or None} instead of one ref.
    A one-line DataError when it cannot be read."""
    try:
        split = pick_split(path)
        data = open_dataset(str(path), split)
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - pyarrow and datasets raise many types for bad files
        first = str(e).splitlines()[0] if str(e) else ""
        raise DataError(f"{path}: cannot be read as a local Hugging Face dataset "
                        f"({type(e).__name__}: {first}); pass a parquet file or a "
                        f"datasets save_to_disk folder") from None
    for i in range(len(data)):
        row = data[i]
        where = f"{path}{'[' + split + ']' if split else ''} row {i}"
        images = {c: None if row.get(c) is None else ImageRef(
                      "hf", image_key(path, split, i, c),
                      hashlib.sha256(image_bytes(row[c], f"{where} column {c!r}", root_of(path))).hexdigest())
                  for c in image_columns}
        yield where, row, images if len(image_columns) > 1 else images[image_columns[0]]


def is_dataset(path: Path) -> bool:
    """A parquet file or a save_to_disk folder."""
    return path.suffix == ".parquet" or is_saved_dataset(path)


def benchmark_rows(path: Path, columns: tuple[str, ...], fix: str,
                   image_columns: tuple[str, ...] = ("image",)):
    """`rows(path, image_columns)` of a benchmark's dataset with every column in `columns` and
    every image column present in each row; otherwise a one-line DataError naming the file, the
    row and the column, ending with `fix`."""
    if not is_dataset(path):
        raise DataError(f"{path}: expected a parquet file or a datasets save_to_disk folder; {fix}")
    for where, row, images in rows(path, image_columns):
        refs = images if isinstance(images, dict) else {image_columns[0]: images}
        missing = next((c for c in columns if row.get(c) is None), None) or \
            next((c for c, ref in refs.items() if ref is None), None)
        if missing is not None:
            raise DataError(f"{where}: missing column {missing!r}; {fix}")
        yield where, row, images


def load(path: Path, task: str, limit: int | None = None) -> list[Sample]:
    out = []
    columns: set[str] | None = None
    for where, row, image in rows(path):
        columns = set(row) if columns is None else columns
        if row.get("task", task) != task:
            continue
        for name in ("captions", "sentences"):  # captioning layouts
            if name in columns and "answers" not in columns:
                row["answers"] = [s["raw"] if isinstance(s, dict) else s for s in row[name]]
        if "unit" not in columns:  # CIs resample images
            for key in ("image_id", "image_source"):
                if key in columns:
                    row["unit"] = f"image-{row[key]}"
                    break
        sid = row.get("question_id", row.get("id", where.rpartition(" ")[2]))
        out.append(Sample(id=f"{path.stem}-{sid}", image=image, fields=row_fields(row, where)))
        if limit and len(out) >= limit:
            break
    return out
