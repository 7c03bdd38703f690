"""`vlmeval report`: one self-contained HTML page for a run directory (reads it, never re-runs).

The page holds everything inline: CSS, charts as SVG (charts.py), image thumbnails as data
URIs, the samples as JSON that a small script pages through (50 rows at a time, so a 10,000-
sample run opens without freezing). Everything from the run is escaped by jinja2's autoescape;
the samples JSON is escaped for a <script> block and written into the page with textContent
only; a Content-Security-Policy allows no network and no script but the page's own (by hash),
so a model output such as `<script>` or `<img onerror=...>` shows as text and runs nothing.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import re
import secrets
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from PIL import Image

from vlmeval.reports import charts
from vlmeval.sections import folded_prefixes
from vlmeval.store import Run, load_run, write_atomic

TEMPLATES = Path(__file__).parent / "templates"
THUMB_PX = 96
IMAGE_BUDGET = 8_000_000  # bytes of thumbnails per page; further images are left out, and said
TEXT_CAP = 4000  # characters of one prompt or output shown (the run directory has all of it)


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["j2", "html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = fmt
    env.filters["visible"] = visible
    env.filters["pvalue"] = lambda p: "n/a" if p is None else "<0.0001" if p < 1e-4 else f"{p:.4f}"
    env.filters["count"] = lambda v: f"{v:,}" if isinstance(v, (int, float)) else "n/a"
    env.filters["signed"] = lambda v, digits=3: ("n/a" if v is None else  # no "-0.000"
                                                 f"{v if abs(v) >= 0.5 * 10 ** -digits else 0.0:+.{digits}f}")
    return env


def fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or value != value else f"{value:.{digits}f}"


def packed(items: Iterable[Any]) -> Markup:
    """A JSON list, gzipped and base64-encoded (the page's script unpacks it with the browser's
    DecompressionStream): the samples of a large run shrink about tenfold, and base64 holds
    nothing a <script> block could misread."""
    return Markup("".join(piece.decode("ascii") for piece in base64_pieces(gzipped(items))))


def gzipped(items: Iterable[Any]) -> io.BytesIO:
    """The items as a gzipped JSON list, encoded and compressed one at a time, so neither the
    list nor its text is ever whole (100k samples: 170 MB less)."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as f:
        f.write(b"[")
        for i, item in enumerate(items):
            f.write((b"," if i else b"") + json.dumps(
                item, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        f.write(b"]")
    return out


def base64_pieces(data: io.BytesIO, size: int = 3 << 20) -> Iterator[bytes]:
    """data's base64 text in pieces (of a multiple of 3 bytes each, so they join into one)."""
    view = data.getbuffer()
    for start in range(0, len(view), size):
        yield base64.b64encode(view[start:start + size])


def script_json(data: Any) -> Markup:
    """JSON safe inside <script type="application/json">: no '<', '>' or '&' survive."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def page_script(name: str) -> tuple[Markup, str]:
    """A script from templates/ and its CSP hash (the only script the page may run)."""
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    return Markup(text), f"'sha256-{digest}'"


# --- images ------------------------------------------------------------------------------------

def smallest_encoding(image: "Image.Image") -> tuple[str, bytes]:
    """(mime type, bytes) of the smallest of JPEG, lossy and lossless WebP and PNG: drawn images
    compress far better losslessly, photos lossily. Lossless WebP runs at method 1, not
    Pillow's default of 4: 0.7 instead of 13.5 ms for a 96 px photo (a report of 300 photos
    spent 6 s on thumbnails), the same bytes on drawn images and noise (the scenes world's
    thumbnails are unchanged), and on photos, where a lossy encoding is smaller anyway, sizes
    within 1% of method 4's (libwebp 1.6)."""
    out = []
    for fmt, mime, options in (("JPEG", "image/jpeg", {"quality": 80}),
                               ("WEBP", "image/webp", {"quality": 80}),
                               ("WEBP", "image/webp", {"lossless": True, "method": 1}),
                               ("PNG", "image/png", {"optimize": True})):
        buffer = io.BytesIO()
        try:
            image.save(buffer, format=fmt, **options)
        except (OSError, KeyError, ValueError):
            continue  # a Pillow built without that codec: the others remain (JPEG always does)
        out.append((len(buffer.getvalue()), mime, buffer.getvalue()))
    _, mime, data = min(out)
    return mime, data


def thumbnails(images: Iterable[Mapping[str, Any] | None],
               budget: int = IMAGE_BUDGET) -> tuple[dict[str, str], int]:
    """sha256 -> data URI for each distinct image of `images` (records' image references),
    once however many requests show it, until the byte budget is spent; returns the map and
    how many images were left out (unreadable or over budget). Generated probe inputs (blank,
    noise) get no thumbnail: rows name them. Two threads make them (Pillow decodes and encodes
    without holding the GIL), a chunk at a time, and the budget is spent in the images' order:
    the same map as one at a time."""
    from concurrent.futures import ThreadPoolExecutor

    out: dict[str, str] = {}
    left_out, spent = 0, 0
    refs = list({ref["sha256"]: ref for ref in images if ref and ref["source"] != "synthetic"}.values())
    with ThreadPoolExecutor(2, thread_name_prefix="vlmeval-thumbnails") as pool:
        for start in range(0, len(refs), 64):
            if spent >= budget:
                left_out += len(refs) - start
                break
            for ref, uri in zip(refs[start:start + 64], pool.map(_thumbnail, refs[start:start + 64])):
                if uri is None or spent >= budget:
                    left_out += 1
                    continue
                out[ref["sha256"]] = uri
                spent += len(uri)
    return out, left_out


def _thumbnail(ref: Mapping[str, Any]) -> str | None:
    """A record's image as a data URI of at most THUMB_PX a side; None if it cannot be read
    (e.g. the image folder moved since the run, or a decompression bomb)."""
    from vlmeval.data import load_image
    from vlmeval.records import ImageRef

    try:
        image = load_image(ImageRef(ref["source"], ref["key"], ref["sha256"]),
                           draft=(2 * THUMB_PX, 2 * THUMB_PX))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    image.thumbnail((THUMB_PX, THUMB_PX))
    mime, data = smallest_encoding(image)
    return f"data:{mime};base64," + base64.b64encode(data).decode()


# --- samples -----------------------------------------------------------------------------------

# Control characters and the bidirectional controls that reorder what a reader sees (a model
# output or a data label could hide text with them) are shown as visible escapes: \u202e.
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e"
                        "\u2060-\u2069\ufeff]")


def visible(text: str | None) -> str | None:
    if text is None:
        return None
    return _INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _cap(text: str | None) -> str | None:
    text = visible(text)
    if text is None or len(text) <= TEXT_CAP:
        return text
    return text[:TEXT_CAP] + f" ... [{len(text) - TEXT_CAP} more characters in the run directory]"


def hallucinated(record: dict[str, Any]) -> bool:
    """The task's verdict marked the answer as a hallucination (scores["hallucinated"] > 0:
    POPE's yes to an absent object, an object CHAIR finds named but not in the image)."""
    verdict = record.get("verdict") or {}
    return (verdict.get("scores") or {}).get("hallucinated", 0) > 0


def sample_row(record: dict[str, Any]) -> dict[str, Any]:
    verdict = record.get("verdict") or {}
    flags = {"wrong": verdict.get("correct") is False, "unparsed": record.get("parse_status") == "unparsed",
             "hallucinated": hallucinated(record), "error": record.get("error") is not None}
    return {
        "flags": flags, "task": record["task"], "id": visible(record["request_id"]),
        "variant": record.get("variant"),
        "image": (record.get("image") or {}).get("sha256"),
        "image_label": (f"generated image: {record['image']['key']}"
                        if (record.get("image") or {}).get("source") == "synthetic" else None),
        "prompt": _cap(record.get("model_prompt") or record.get("prompt")),
        "raw": _cap(record.get("raw")), "parsed": _cap(record.get("parsed")),
        "status": record.get("parse_status"), "target": _cap(str(record.get("target"))),
        "correct": verdict.get("correct"), "outcome": verdict.get("outcome"),
        "error": _cap(record.get("error")), "hallucinated": flags["hallucinated"],
    }


# --- task sections -----------------------------------------------------------------------------

def metric_rows(metrics: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"group": key.rpartition("/")[0] or "-", "metric": key.rpartition("/")[2], **m}
            for key, m in metrics.items()]


def task_section(name: str, result: dict[str, Any]) -> dict[str, Any]:
    """What the page shows for one task: its headline, the sections it declared in
    results.json (vlmeval/sections.py), and its metrics (those a `details` section folds away
    shown there instead)."""
    metrics = result["metrics"]
    folded = folded_prefixes(result)
    direction = result["directions"].get(result["headline"], "neutral")
    return {
        "name": name, "result": result, "headline": result["headline"],
        "head": metrics[result["headline"]],
        "direction": {"higher": "higher is better", "lower": "lower is better"}.get(direction, ""),
        "companions": [{"name": m, "value": metrics[m]["value"]} for m in result.get("companions", [])],
        "card_note": result.get("headline_note"),
        "main": metric_rows({k: m for k, m in metrics.items() if not k.startswith(folded)}),
        "blocks": [b for b in (block(spec, result) for spec in result.get("sections", [])) if b],
    }


def _path(data: Any, keys: list[str]) -> Any:
    for key in keys:
        data = data[key]
    return data


def block(spec: dict[str, Any], result: dict[str, Any]) -> dict[str, Any] | None:
    """One declared section, ready for the template; None when it has nothing to show."""
    metrics, kind = result["metrics"], spec["kind"]
    out: dict[str, Any] = {"kind": kind, "title": spec["title"]}
    if kind == "metric_grid":
        rows = [{"label": r, "cells": [metrics.get(f"{r}/{c}") for c in spec["columns"]]}
                for r in spec["rows"]]
        return {**out, "columns": spec["columns"], "rows": rows} if rows else None
    if kind == "bars":
        suffix = "/" + spec["metric"]
        found = [(k[len(spec["prefix"]):-len(suffix)], m) for k, m in metrics.items()
                 if k.startswith(spec["prefix"]) and k.endswith(suffix)]
        if not found:
            return None
        return {**out, "kind": "chart", "svg": Markup(charts.bars(
            [visible(g) for g, _ in found], [_value(m) for _, m in found], [m["ci_low"] for _, m in found],
            [m["ci_high"] for _, m in found], spec["label"]))}
    if kind == "curves":
        series = result.get(spec["source"]) or {}
        if not series:
            return None
        return {**out, "kind": "chart", "svg": Markup(charts.curves(
            {visible(name): (_path(c, spec["x"]), _path(c, spec["y"])) for name, c in series.items()},
            spec["xlabel"], spec["ylabel"]))}
    if kind == "matrix":
        data = result.get(spec["source"])
        if not data:
            return None
        matrix = data["matrix"]
        columns = [str(j) for j in range(len(matrix[0]))]
        if data.get("last_column"):
            columns[-1] = data["last_column"]
        return {**out, "matrix": matrix, "columns": columns,
                "peak": max(1, max(max(row) for row in matrix))}
    if kind == "table":
        rows = result.get(spec["source"]) or []
        return {**out, "rows": rows[:15], "fields": list(rows[0])} if rows else None
    if kind == "details":
        rows = metric_rows({k: m for k, m in metrics.items() if k.startswith(spec["prefix"])})
        return {**out, "metrics": rows} if rows else None
    raise ValueError(f"unknown report section kind {kind!r} (vlmeval/sections.py lists them)")


def _value(m: dict[str, Any]) -> float:
    return float("nan") if m["value"] is None else m["value"]


# --- the page ----------------------------------------------------------------------------------

def report_html(run: Run) -> str:
    return "".join(p if isinstance(p, str) else p.decode("ascii") for p in page(run))


def page(run: Run) -> Iterator[str | bytes]:
    """The report page, in pieces (the samples' base64 as bytes). The records pass once, task
    by task, into the compressed sample rows (and the images and usage they name): a run
    loaded without its records (load_run(records=False)) is read as it goes, and the rows'
    text goes from the compressed buffer into the page a piece at a time, so a 100k-sample
    page needs neither every record nor the whole page in memory at once."""
    images: dict[str, Any] = {}  # sha256 -> reference, for the thumbnails
    with_usage: list[dict[str, Any]] = []  # {"usage": ...} of the records that report it
    n_samples = 0

    def rows() -> Iterator[dict[str, Any]]:
        nonlocal n_samples
        for entry in run.meta["tasks"]:
            for r in run.task_records(entry["name"]):
                n_samples += 1
                if r.get("image"):
                    images[r["image"]["sha256"]] = r["image"]
                if r.get("usage"):
                    with_usage.append({"usage": r["usage"]})
                yield sample_row(r)

    samples = gzipped(rows())
    thumbs, left_out = thumbnails(images.values())
    script, script_hash = page_script("browser.js")
    sections = [task_section(name, result) for name, result in run.results["tasks"].items()]
    from vlmeval.scoring import usage

    mark = f"samples-{secrets.token_hex(16)}"  # where they go; no run's text can hold it
    pieces = environment().get_template("report.html.j2").generate(
        run=run, meta=run.meta, sections=sections, script=script, script_hash=script_hash,
        usage=usage(with_usage, run.meta["model"].get("prices_per_million_tokens")),
        samples=Markup(mark), images=script_json(thumbs), n_samples=n_samples,
        images_left_out=left_out, tasks=list(run.results["tasks"]),
    )
    placed = False
    for piece in pieces:
        if mark in piece:
            before, after = piece.split(mark, 1)
            yield before
            yield from base64_pieces(samples)
            yield after
            placed = True
        else:
            yield piece
    assert placed, "report.html.j2 shows no {{ samples }}"


def write_report(run_dir: Path, out: Path | None = None) -> Path:
    """Render run_dir's report to `out` (default: run_dir/report.html); returns the path. The
    page is written as it is made, from records read as they are needed."""
    run = load_run(run_dir, records=False)
    out = Path(out) if out is not None else run.path / "report.html"
    write_atomic(out, page(run))
    return out
