"""Helpers shared by the file-based sources: JSON reading with one-line errors, image refs."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator

from vlmeval.errors import DataError
from vlmeval.records import ImageRef


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON ({e}); pass the original file") from None


def json_lines(path: Path, fix: str) -> Iterator[tuple[str, dict]]:
    """("file:line", object) for each non-blank line of a JSON-lines file; a one-line DataError
    naming the line for text that is not UTF-8, not JSON or not an object."""
    try:
        lines = path.read_text(encoding="utf-8").split("\n")  # not splitlines: U+2028 is data
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start}); save the file as UTF-8") from None
    for line_no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{line_no}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{where}: not valid JSON ({e.msg}); {fix}") from None
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}; {fix}")
        yield where, row


def require(record: dict, field: str, where: str, fix: str = "") -> Any:
    if not isinstance(record, dict) or field not in record:
        raise DataError(f"{where}: missing field {field!r}" + (f"; {fix}" if fix else ""))
    return record[field]


@lru_cache(maxsize=65536)
def file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a file's bytes, once per (path, size, modification time): POPE's question files
    ask six questions per image, and each row used to read and hash the image again."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_image(name: object, roots: Iterable[Path], where: str) -> ImageRef:
    """An ImageRef to `name` in the first root that holds it; sha256 of the file's bytes.

    Paths are confined to the roots (the data file's folder, or --images): an absolute path or
    one that climbs out with ".." is refused, so a data file cannot make vlmeval read, hash and
    show files it should not. Only regular files are read (not folders, FIFOs or devices)."""
    if not isinstance(name, str) or not name.strip():
        raise DataError(f"{where}: field 'image' must be a relative path (a string), got "
                        f"{name!r}")
    roots = [Path(r) for r in roots]
    for root in roots:
        path = (root / name).resolve()
        if not path.is_relative_to(root.resolve()):
            raise DataError(f"{where}: image {name!r} is outside {root}; data files may only name "
                            f"images inside their folder, or pass --images DIR with a folder that "
                            f"holds it")
        if path.exists() and not path.is_file():
            raise DataError(f"{where}: image {name!r} is not a regular file ({path}); point the "
                            f"field at an image file")
        if path.is_file():
            stat = path.stat()
            return ImageRef("file", str(path), file_sha256(str(path), stat.st_size, stat.st_mtime_ns))
    tried = ", ".join(str(r) for r in roots)
    raise DataError(f"{where}: image {name!r} not found (looked in {tried}); pass --images DIR "
                    f"with the folder that holds it")
