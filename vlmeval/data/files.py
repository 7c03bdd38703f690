"""Helpers shared by the file-based sources: JSON reading with one-line errors, image refs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

from vlmeval.errors import DataError
from vlmeval.records import ImageRef


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON ({e}); pass the original file") from None


def require(record: dict, field: str, where: str, fix: str = "") -> Any:
    if not isinstance(record, dict) or field not in record:
        raise DataError(f"{where}: missing field {field!r}" + (f"; {fix}" if fix else ""))
    return record[field]


def file_image(name: str, roots: Iterable[Path], where: str) -> ImageRef:
    """An ImageRef to the first root holding `name`; sha256 of the file's bytes."""
    roots = list(roots)
    for root in roots:
        path = root / name
        if path.is_file():
            return ImageRef("file", str(path.resolve()), hashlib.sha256(path.read_bytes()).hexdigest())
    tried = ", ".join(str(r) for r in roots)
    raise DataError(f"{where}: image {name!r} not found (looked in {tried}); pass --images DIR "
                    f"with the folder that holds it")
