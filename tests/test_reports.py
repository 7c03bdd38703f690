"""Reports and comparisons: rendered from run directories made by planted adapters, checked in
headless Chromium (Debian's `chromium`; the tests skip without it unless CI=true)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

import vlmeval
from helpers import OracleWrongOn
from vlmeval.comparison import comparison, load_runs
from vlmeval.reports.compare import write_compare
from vlmeval.reports.render import write_report
from vlmeval.store import RunDirError

XSS = '<script>document.body.setAttribute("data-pwned","1")</script><img src=x onerror="document.body.setAttribute(\'data-pwned\',\'2\')">'
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def browser(page: Path, tmp_path: Path) -> tuple[str, list[str]]:
    """The page's DOM after its scripts ran, and the console lines Chromium logged."""
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (CI installs Debian's chromium package)")
        pytest.skip("chromium not installed (apt install chromium)")
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={tmp_path / 'chromium'}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=3000", "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120)
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Content Security" in line]
    return done.stdout, console


class Text(HTMLParser):
    """The visible text of a page (script and style bodies left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        self.skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self.skip -= tag in ("script", "style")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    common = dict(tasks=["pope", "counting", "chair"], limit=30)
    out = {
        "oracle": vlmeval.evaluate("baseline:oracle", out=root / "oracle", **common),
        "many": vlmeval.evaluate(OracleWrongOn(120), out=root / "many", **common),
        "one": vlmeval.evaluate(OracleWrongOn(1), out=root / "one", **common),
        "xss": vlmeval.evaluate(OracleWrongOn(3, output=XSS), out=root / "xss", **common),
    }
    return {k: v.run_dir for k, v in out.items()}


def test_every_run_writes_its_report(runs):
    assert (runs["oracle"] / "report.html").is_file()


def test_report_in_chromium_shows_the_numbers_and_no_errors(runs, tmp_path):
    results = json.loads((runs["many"] / "results.json").read_text())
    dom, console = browser(write_report(runs["many"], tmp_path / "r.html"), tmp_path)
    text = visible_text(dom)
    assert console == []
    f1 = results["tasks"]["pope"]["metrics"]["mean/f1"]["value"]
    assert f"{f1:.3f}" in text and "pope · mean/f1" in text
    assert "exact_accuracy" in text and "provenance" in text
    assert re.search(r"\d+ of \d+ rows · page 1 of \d+", text)  # the sample browser ran
    assert "<svg" in dom  # charts inline


def test_model_output_with_markup_is_shown_as_text_and_runs_nothing(runs, tmp_path):
    page = write_report(runs["xss"], tmp_path / "x.html")
    html = page.read_text()
    assert XSS not in html  # never written raw into the page
    dom, console = browser(page, tmp_path)
    assert not re.search(r"<body[^>]*data-pwned", dom)  # neither payload ran
    assert not re.search(r"<img[^>]*onerror", dom)  # no element was made from the output
    assert "<script>document.body" in visible_text(dom)  # the output is there, as text
    assert console == []


def test_compare_page_in_chromium(runs, tmp_path):
    out = write_compare([runs["oracle"], runs["many"], runs["one"]], tmp_path / "c.html",
                        csv_path=tmp_path / "c.csv")
    dom, console = browser(out, tmp_path)
    text = visible_text(dom)
    assert console == []
    assert "baseline: baseline:oracle" in text and "where the runs disagree" in text
    assert re.search(r"120 of 120 rows", text)  # the 120 flipped (the one flip is among them)
    rows = (tmp_path / "c.csv").read_text().splitlines()
    assert rows[0].startswith("task,metric,run,value")
    assert any(r.startswith("pope,mean/f1,test:oracle-wrong-120,") for r in rows)


def test_paired_tests_separate_many_differences_from_one(runs):
    data = comparison(load_runs([runs["oracle"], runs["many"], runs["one"]], None))
    pope = next(t for t in data["tasks"] if t.name == "pope")
    many, one = pope.mcnemar
    assert (many["a_only"], many["b_only"], one["a_only"], one["b_only"]) == (120, 0, 1, 0)
    assert many["p"] < 0.05 < one["p"]
    f1 = next(r for r in pope.rows if r["metric"] == "mean/f1")
    assert f1["tests"][0]["p"] < 0.05 < f1["tests"][1]["p"]
    assert f1["tests"][0]["delta"] < 0 and f1["tests"][1]["delta"] < 0


def test_compare_uses_the_shared_samples_and_says_so(runs, tmp_path):
    part = tmp_path / "part"
    shutil.copytree(runs["oracle"], part)
    lines = (part / "samples" / "pope.jsonl").read_text().splitlines()
    (part / "samples" / "pope.jsonl").write_text("\n".join(lines[:-90]) + "\n")
    data = comparison(load_runs([part, runs["many"]], None))
    pope = next(t for t in data["tasks"] if t.name == "pope")
    assert pope.shared == len(lines) - 90
    assert any("compared on the" in n for n in pope.notes)


def test_runs_of_different_task_versions_are_not_tested(runs, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(runs["many"], other)
    meta = json.loads((other / "run.json").read_text())
    meta["tasks"][0]["version"] = "99"
    (other / "run.json").write_text(json.dumps(meta))
    pope = next(t for t in comparison(load_runs([runs["oracle"], other], None))["tasks"]
                if t.name == "pope")
    assert not pope.comparable and any("task version differs" in n for n in pope.notes)


def test_report_of_an_unfinished_directory_is_a_one_line_error(tmp_path):
    with pytest.raises(RunDirError, match="run.json: missing; this needs a finished run directory"):
        write_report(tmp_path)


def test_a_large_run_renders_small(runs, tmp_path):
    """10,000 sample rows: the page stays under 20 MB and opens at once (the browser script
    draws 50 rows at a time)."""
    big = tmp_path / "big"
    shutil.copytree(runs["many"], big)
    lines = (big / "samples" / "pope.jsonl").read_text().splitlines()
    many = [json.loads(line) for line in lines]
    rows = []
    for k in range(10_000 // len(many) + 1):
        for r in many:
            rows.append(json.dumps({**r, "request_id": f"{r['request_id']}#{k}"}))
    (big / "samples" / "pope.jsonl").write_text("\n".join(rows[:10_000]) + "\n")
    page = write_report(big, tmp_path / "big.html")
    assert page.stat().st_size < 20_000_000
    dom, console = browser(page, tmp_path)  # opens, and the first page of rows is drawn
    shown = re.search(r"(\d+) of (\d+) rows · page 1 of (\d+)", visible_text(dom))
    assert console == [] and shown and int(shown[1]) == int(shown[2]) >= 10_000


def test_the_browser_check_sees_console_errors(tmp_path):
    """The console check above can fail: a page with an error is caught."""
    page = tmp_path / "bad.html"
    page.write_text("<!doctype html><body><script>undefinedFunction()</script></body>")
    _, console = browser(page, tmp_path)
    assert any("undefinedFunction" in line for line in console)


def _png_claiming(path: Path, width: int, height: int) -> None:
    """A small PNG whose header claims width x height (a decompression bomb's header)."""
    import struct
    import zlib

    from PIL import Image

    Image.new("RGB", (8, 8)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = 8 + 8  # signature, then the IHDR chunk's length and type
    data[ihdr:ihdr + 8] = struct.pack(">II", width, height)
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[ihdr - 4:ihdr + 13])))
    path.write_bytes(bytes(data))


def _photo(path, size=(640, 480), seed=0) -> None:
    """A photo-like JPEG: smooth colour noise."""
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    Image.fromarray(pixels).resize(size, Image.BICUBIC).save(path, format="JPEG", quality=90)


def test_thumbnails_decode_photos_at_a_reduced_scale_within_the_pixel_limit(tmp_path):
    """The report's thumbnails decode a JPEG at libjpeg's smallest scale still twice the
    thumbnail (as Pillow's own thumbnail does), and the pixel limit still reads the file's full
    size: a JPEG whose header claims more is refused before any decoding."""
    import struct

    from vlmeval.data import load_image
    from vlmeval.records import ImageRef
    from vlmeval.reports.render import THUMB_PX, thumbnails

    _photo(tmp_path / "photo.jpg")
    ref = ImageRef("file", str(tmp_path / "photo.jpg"), "a")
    assert load_image(ref).size == (640, 480)
    assert load_image(ref, draft=(2 * THUMB_PX, 2 * THUMB_PX)).size == (320, 240)
    data = bytearray((tmp_path / "photo.jpg").read_bytes())
    sof = data.index(b"\xff\xc0") + 5  # baseline frame header: length, precision, then H, W
    data[sof:sof + 4] = struct.pack(">HH", 6000, 8000)  # 48 million pixels, over the limit
    (tmp_path / "big.jpg").write_bytes(bytes(data))
    big = ImageRef("file", str(tmp_path / "big.jpg"), "b")
    with pytest.raises(ValueError, match="8000 x 6000 pixels is above the limit"):
        load_image(big, draft=(2 * THUMB_PX, 2 * THUMB_PX))
    uris, left_out = thumbnails([ref.to_json(), big.to_json()])
    assert list(uris) == ["a"] and left_out == 1
    assert uris["a"].startswith(("data:image/jpeg;", "data:image/webp;"))  # a photo: lossy


def test_thumbnails_made_by_two_threads_spend_the_budget_in_the_images_order(tmp_path):
    """The same map and count left out as making them one at a time, in order, until the
    budget is spent: across chunks of 64, with an unreadable image among them."""
    from vlmeval.data import scenes_samples
    from vlmeval.records import ImageRef
    from vlmeval.reports.render import _thumbnail, thumbnails

    refs = [s.image.to_json() for s in scenes_samples("eval", 150)]
    refs.insert(70, ImageRef("file", str(tmp_path / "gone.png"), "gone").to_json())
    refs.insert(3, refs[0])  # shown twice: one thumbnail
    for budget in (10**9, 10_000, 30_000, 1):
        expected, left_out, spent = {}, 0, 0
        for ref in {r["sha256"]: r for r in refs}.values():
            uri = _thumbnail(ref) if spent < budget else None
            if uri is None:
                left_out += 1
                continue
            expected[ref["sha256"]] = uri
            spent += len(uri)
        assert thumbnails(refs, budget) == (expected, left_out)
    assert thumbnails(refs, 30_000)[1] > 1 and len(thumbnails(refs, 10**9)[0]) == 150


def test_lossless_webp_at_method_1_gives_pillows_default_bytes_on_drawn_images():
    """smallest_encoding's lossless WebP runs at method 1 (0.7 against 13.5 ms for a 96 px
    photo), which gives the bytes of Pillow's default, method 4, on drawn images and noise: the
    scenes world's thumbnails are what they were."""
    import io

    import numpy as np
    from PIL import Image

    from vlmeval.data import scenes

    images = [*(scenes.render(scenes.scene("eval", i)) for i in range(8)),
              Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8))]
    for image in images:
        encoded = {}
        for method in (1, 4):
            buffer = io.BytesIO()
            image.save(buffer, format="WEBP", lossless=True, method=method)
            encoded[method] = buffer.getvalue()
        assert encoded[1] == encoded[4]


HOSTILE = "$\\frac{$ \x07bell \u202eevil\u202c ok"


def test_reports_render_a_bomb_mathtext_control_and_bidi_characters(tmp_path):
    """A decompression bomb is a per-sample error and shows no thumbnail; "$", control and bidi
    characters in object names and outputs reach charts, tables and JUnit as harmless text."""
    from helpers import OracleWrongOn
    from vlmeval.cli import main
    from vlmeval.runner import RunConfig, run

    images = tmp_path / "img"
    images.mkdir()
    _png_claiming(images / "bomb.png", 20000, 20000)
    from vlmeval.data import scenes

    rows = []
    for i in range(4):
        scenes.render(scenes.scene("eval", i)).save(images / f"{i}.png")
        for obj, label in ((HOSTILE, "no"), ("star", "yes")):
            rows.append({"image": f"img/{i}.png", "question": f"Is there a {obj} in the image?",
                         "answer": label})
    rows.append({"image": "img/bomb.png", "question": "Is there a star in the image?", "answer": "yes"})
    data = tmp_path / "coco_pope_random.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    class Looks(OracleWrongOn):  # decodes its images, as a real model does
        def generate(self, requests):
            from vlmeval.data import load_images

            load_images([r.image for r in requests])
            return super().generate(requests)

    result = run(RunConfig(model="m", tasks=("pope",), data={"": data}, out=tmp_path / "run",
                           max_error_rate=0.5), Looks(4, output="Yes " + HOSTILE))
    records = [json.loads(l) for l in (tmp_path / "run" / "samples" / "pope.jsonl").read_text().splitlines()]
    (bomb,) = [r for r in records if r["image"]["key"].endswith("bomb.png")]
    assert "image above the limit of 40,000,000 pixels" in bomb["error"]
    assert result.status == "finished" and result.results["tasks"]["pope"]["errors"] == 1
    page = tmp_path / "run" / "report.html"
    html, console = browser(page, tmp_path)
    text = visible_text(html)
    assert "\u202e" not in html and "\\u202e" in text and "\\u0007bell" in text
    assert not [c for c in console if "Uncaught" in c or "Content Security" in c], console
    assert main(["compare", str(tmp_path / "run"), str(tmp_path / "run"), "-o", str(tmp_path / "c.html")]) == 0
    html, console = browser(tmp_path / "c.html", tmp_path)
    assert "\u202e" not in html and not [c for c in console if "Uncaught" in c], console
    junit = tmp_path / "gate.xml"
    assert main(["gate", str(tmp_path / "run"), "--baseline", str(tmp_path / "run"), "--junit", str(junit)]) == 0
    import xml.etree.ElementTree as ET

    ET.parse(junit)


def measured(page: Path, tmp_path: Path, width: int = 1400) -> dict:
    """Lay the page out in Chromium at `width` px and measure it: every table wider than its
    container, and the height of the first sample card. The page's CSP admits only its own
    script, so the measuring script goes into a copy without it."""
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page.read_text())
    probe = """<script>setTimeout(function () {
      var wide = Array.from(document.querySelectorAll("table")).filter(function (t) {
        return t.getBoundingClientRect().right > t.parentElement.getBoundingClientRect().right + 1
               || t.getBoundingClientRect().right > window.innerWidth; }).map(function (t) {
        return t.closest("section").id; });
      var card = document.querySelector("#rows .sample");
      document.body.setAttribute("data-measured", JSON.stringify(
        {wide: wide, card: card ? card.getBoundingClientRect().height : null}));
    }, 1500);</script>"""
    copy = tmp_path / f"measure-{page.name}"
    copy.write_text(html.replace("</body>", probe + "</body>"))
    if CHROMIUM is None:
        browser(copy, tmp_path)  # skips or fails as the other browser tests do
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={tmp_path / 'chromium-measure'}", f"--window-size={width},900",
         "--virtual-time-budget=5000", "--dump-dom", copy.resolve().as_uri()],
        capture_output=True, text=True, timeout=120)
    found = re.search(r'data-measured="([^"]*)"', done.stdout)
    assert found, done.stdout[-500:]
    return json.loads(found[1].replace("&quot;", '"'))


def test_a_compare_page_of_eight_runs_fits_1400_px(runs, tmp_path):
    """Four runs used to overflow their metric tables at 1400 px and stack each disagreement's
    outputs vertically."""
    paths = []
    for k in range(8):
        out = tmp_path / f"run{k}"
        vlmeval.evaluate(OracleWrongOn(10 * k), tasks=["pope", "counting", "chair"], limit=30, out=out)
        paths.append(out)
    page = write_compare(paths, tmp_path / "eight.html")
    sizes = measured(page, tmp_path)
    assert sizes["wide"] == [], f"tables overflow in sections {sizes['wide']}"
    assert sizes["card"] is not None and sizes["card"] < 400, sizes  # outputs side by side


def test_samples_are_packed_one_at_a_time_into_one_gzipped_json_list():
    import base64
    import gzip

    from vlmeval.reports.render import packed

    rows = [{"id": "a", "text": "é <script>"}, {"id": "b", "n": 2}, [1, None]]
    for items in (rows, iter(rows), []):
        unpacked = json.loads(gzip.decompress(base64.b64decode(str(packed(items)))))
        assert unpacked == (rows if items != [] else [])
    assert packed(iter(rows)) == packed(rows)  # deterministic (mtime 0)
