"""The run directory is the truth (issue 20): each case that used to give a wrong number or a
wrong exit code, named after it, plus failed requests retried on resume and `vlmeval rescore`."""

from __future__ import annotations

import json
import shutil
from fractions import Fraction

import pytest

from data_fixtures import DATA_FIXTURES, chair_instances
from helpers import FlakyAdapter, OracleWrongOn
from test_data_sources import _Baseline
from vlmeval.adapters.baselines import OracleAdapter
from vlmeval.cli import main
from vlmeval.data import scenes
from vlmeval.runner import RunConfig, run
from vlmeval.store import load_run


def results_of(run_dir):
    return json.loads((run_dir / "results.json").read_text())


def without_scored(results):
    return {k: v for k, v in results.items() if k != "scored"}


def test_compare_and_gate_work_on_a_transform_over_another_task(tmp_path, capsys):
    """image_swap:counting used to be rebuilt as image_swap:counting:counting: exit 2."""
    a = tmp_path / "a"
    assert main(["run", "--model", "baseline:oracle", "--tasks", "image_swap:counting",
                 "--limit", "20", "--out", str(a)]) == 0
    assert main(["compare", str(a), str(a), "-o", str(tmp_path / "c.html"),
                 "--csv", str(tmp_path / "c.csv")]) == 0
    rows = [line.split(",") for line in (tmp_path / "c.csv").read_text().splitlines()[1:]]
    tested = [r for r in rows if r[-1]]  # the second run's rows: delta and p
    assert len(tested) == len(rows) // 2
    assert all(r[-1] == "paired bootstrap" and float(r[-2]) == 1.0 for r in tested)
    capsys.readouterr()
    assert main(["gate", str(a), "--baseline", str(a)]) == 0
    assert "PASS image_swap:counting pair_accuracy: 1.0000 -> 1.0000" in capsys.readouterr().out


class MentionsAnAbsentObjectOnOddImages(_Baseline):
    def answer(self, request):
        absent = next(c for c in scenes.CATEGORIES if c not in request.meta["objects"])
        odd = int(request.sample_id.split("-")[1]) % 2
        return f"A {request.meta['objects'][0]}" + (f" and a {absent}." if odd else ".")


def test_chair_on_coco_compare_and_gate_use_the_synonym_table_the_run_used(tmp_path, capsys):
    """Without --synonyms, CHAIR on COCO maps words with the category names; compare and gate
    used to rescore with the scenes table (chair_s 0.0, recall 0.0 where results said more)."""
    data, _ = chair_instances(tmp_path / "coco")
    model = MentionsAnAbsentObjectOnOddImages("m")
    result = run(RunConfig(model="m", tasks=("chair",), data={"": data}, out=tmp_path / "a"), model)
    stored = result.results["tasks"]["chair"]["metrics"]
    assert stored["chair_s"]["value"] == 0.5 and stored["recall"]["value"] > 0
    shutil.move(tmp_path / "coco", tmp_path / "elsewhere")  # the data is not needed any more
    worse = run(RunConfig(model="m", tasks=("chair",), data={"": tmp_path / "elsewhere" / data.name},
                          out=tmp_path / "b"), MentionsAnAbsentObjectOnOddImages("m"))
    assert worse.results["tasks"]["chair"]["metrics"] == stored
    from vlmeval.comparison import comparison, load_runs

    compared = comparison(load_runs([tmp_path / "a", tmp_path / "a"], None))
    (task,) = compared["tasks"]
    values = {row["metric"]: row["values"][1]["value"] for row in task.rows}
    assert values["chair_s"] == 0.5 and values["recall"] == stored["recall"]["value"]
    spec = tmp_path / "exact.yaml"
    spec.write_text("checks:\n  - {task: chair, metric: '*', exact: true}\n")
    assert main(["gate", str(tmp_path / "a"), "--baseline", str(tmp_path / "a"), "--spec", str(spec)]) == 0
    assert "FAIL" not in capsys.readouterr().out


def test_pope_question_files_compare_on_their_own_settings_with_a_paired_test(tmp_path, capsys):
    """A POPE question file holds one setting: compare and gate used to add the others, make
    mean/* NaN and fall back from the paired test to the CI heuristic without saying so."""
    data, images = DATA_FIXTURES["pope"]["question_file"](tmp_path / "pope")
    for name, model in (("base", OracleAdapter("baseline:oracle")), ("worse", OracleWrongOn(3))):
        run(RunConfig(model=model.name, tasks=("pope",), data={"": data}, images=images,
                      out=tmp_path / name), model)
    from vlmeval.comparison import comparison, load_runs

    (task,) = comparison(load_runs([tmp_path / "base", tmp_path / "worse"], None))["tasks"]
    rows = {row["metric"]: row for row in task.rows}
    assert not any(m.startswith(("random/", "popular/")) for m in rows)
    assert rows["mean/f1"]["values"][0]["value"] == 1.0
    assert rows["mean/f1"]["values"][1]["value"] < 1.0
    assert rows["mean/f1"]["tests"][0]["test"] == "paired bootstrap"
    capsys.readouterr()
    main(["gate", str(tmp_path / "worse"), "--baseline", str(tmp_path / "base")])
    line = next(l for l in capsys.readouterr().out.splitlines() if "mean/f1" in l)
    assert "paired bootstrap" in line and "nan" not in line.lower()


def test_failed_requests_are_retried_on_resume_and_left_out_of_metrics(tmp_path, capsys):
    """An adapter that fails on 10% of requests, then a healthy one: the resume recomputes
    exactly the failed requests and ends equal to a clean run; with failures left the run is
    incomplete (exit 3), and gate refuses it."""
    clean = run(RunConfig(model="test:flaky", tasks=("pope",), limit=20, out=tmp_path / "clean"),
                FlakyAdapter())
    out = tmp_path / "cut"
    flaky = FlakyAdapter(fail_share=0.1)
    first = run(RunConfig(model="test:flaky", tasks=("pope",), limit=20, out=out), flaky)
    records = [json.loads(l) for l in (out / "samples" / "pope.jsonl").read_text().splitlines()]
    failed = {r["request_id"] for r in records if r["error"]}
    assert 0.05 * 360 < len(failed) < 0.15 * 360
    pope = first.results["tasks"]["pope"]
    assert first.status == "incomplete" and not pope["complete"]
    assert pope["errors"] == len(failed) and pope["error_rate"] == len(failed) / 360
    # Errors are not answers: they are in no denominator.
    assert pope["metrics"]["mean/accuracy"]["n"] == 360 - len(failed)
    assert json.loads((out / "run.json").read_text())["status"] == "incomplete"
    capsys.readouterr()
    assert main(["gate", str(out), "--baseline", str(tmp_path / "clean")]) == 2
    assert f"{len(failed)} of 360 requests failed" in capsys.readouterr().err

    healthy = FlakyAdapter()
    resumed = run(RunConfig(model="test:flaky", tasks=("pope",), limit=20, out=out), healthy)
    assert set(healthy.seen) == failed and len(healthy.seen) == len(failed)
    assert resumed.status == "finished"
    assert measured_apart(resumed.results) == measured_apart(clean.results)
    # One line per request, in planned order, as the clean run wrote them (latency aside).
    assert lines_of(out) == lines_of(tmp_path / "clean")


def measured_apart(results):
    """results without what is measured rather than computed (when scored, model time)."""
    return {k: v if k != "tasks" else {t: {f: x for f, x in r.items() if f != "timing"}
                                       for t, r in v.items()}
            for k, v in results.items() if k != "scored"}


def lines_of(run_dir):
    return [{k: v for k, v in json.loads(line).items() if k != "latency_ms"}
            for line in (run_dir / "samples" / "pope.jsonl").read_text().splitlines()]


def test_a_run_where_every_request_fails_exits_3_incomplete(tmp_path, capsys):
    always_fails = FlakyAdapter(fail_share=1.0)
    result = run(RunConfig(model="test:flaky", tasks=("pope",), limit=2, out=tmp_path / "f"),
                 always_fails)
    assert result.status == "incomplete" and result.results["tasks"]["pope"]["errors"] == 36
    assert result.results["tasks"]["pope"]["metrics"]["mean/accuracy"]["n"] == 0
    assert json.loads((tmp_path / "f" / "run.json").read_text())["status"] == "incomplete"
    capsys.readouterr()
    assert main(["rescore", str(tmp_path / "f")]) == 3
    assert "36 of 36 requests failed" in capsys.readouterr().err


def test_max_error_rate_allows_some_failures(tmp_path):
    result = run(RunConfig(model="test:flaky", tasks=("pope",), limit=20, out=tmp_path / "r",
                           max_error_rate=0.2), FlakyAdapter(fail_share=0.1))
    assert result.status == "finished" and result.results["tasks"]["pope"]["errors"] > 0


class SaysNoIdea(_Baseline):
    capabilities = frozenset({"generate"})  # no option scores: text_mc reads the text

    def answer(self, request):
        return "no idea" if request.request_id.endswith("0") else request.target


def test_text_mc_answers_matching_no_choice_are_counted_unparsed(tmp_path):
    """text_mc used to parse any text as ok and call it unparsed only in the verdict."""
    result = run(RunConfig(model="m", tasks=("text_mc",), limit=20, out=tmp_path / "r"),
                 SaysNoIdea("m"))
    task = result.results["tasks"]["text_mc"]
    records = [json.loads(l) for l in (tmp_path / "r" / "samples" / "text_mc.jsonl").read_text().splitlines()]
    unreadable = [r for r in records if r["raw"] == "no idea"]
    assert unreadable and all(r["parse_status"] == "unparsed" and r["parsed"] is None
                              for r in unreadable)
    assert task["parse"]["official"]["unparsed"] == len(unreadable)
    assert task["parse"]["strict"]["unparsed"] == len(unreadable)
    assert task["metrics"]["accuracy"]["value"] == pytest.approx(1 - len(unreadable) / 20)


def test_readers_never_truncate_a_partial_last_line(tmp_path, capsys):
    """report, compare, gate and baseline save skip a partial last line; only a resuming run
    cuts it off."""
    a = tmp_path / "a"
    assert main(["run", "--model", "baseline:oracle", "--tasks", "pope", "--limit", "3",
                 "--out", str(a)]) == 0
    samples = a / "samples" / "pope.jsonl"
    with open(samples, "a") as f:
        f.write('{"task": "pope", "request_id": "rand')  # a write still in flight
    before = samples.read_bytes()
    assert main(["report", str(a), "-o", str(tmp_path / "r.html")]) == 0
    assert main(["compare", str(a), str(a), "-o", str(tmp_path / "c.html")]) == 0
    assert main(["gate", str(a), "--baseline", str(a)]) == 0
    assert main(["baseline", "save", str(a), "-o", str(tmp_path / "b.json")]) == 0
    assert samples.read_bytes() == before
    assert main(["run", "--model", "baseline:oracle", "--tasks", "pope", "--limit", "3",
                 "--out", str(a)]) == 0
    assert samples.read_bytes() == before[: before.rindex(b"\n") + 1]


class WrongOnEveryThird(_Baseline):
    def answer(self, request):
        return "zebra" if int(request.request_id.rpartition("/")[2]) % 3 == 0 else request.target


def test_results_keep_full_precision(tmp_path):
    """results.json used to round to 6 decimals: 2/3 was 0.666667."""
    result = run(RunConfig(model="m", tasks=("text_gen",), limit=9, out=tmp_path / "r"),
                 WrongOnEveryThird("m"))
    value = results_of(tmp_path / "r")["tasks"]["text_gen"]["metrics"]["accuracy"]["value"]
    assert value == 2 / 3 and Fraction(value).limit_denominator(100) == Fraction(2, 3)
    main(["baseline", "save", str(tmp_path / "r"), "-o", str(tmp_path / "b.json")])
    saved = json.loads((tmp_path / "b.json").read_text())
    assert saved["results"]["tasks"]["text_gen"]["metrics"]["accuracy"]["value"] == 2 / 3
    assert result.results["tasks"]["text_gen"]["metrics"]["accuracy"]["value"] == 2 / 3


class HedgesOnAbsentObjects(_Baseline):
    """Right on present objects; "I think not" on absent ones: official reads no, strict
    cannot read it."""

    def answer(self, request):
        return "Yes" if request.target == "yes" else "I think not"


def test_rescore_without_data_or_model_reproduces_results_and_applies_another_policy(tmp_path, capsys):
    data, images = DATA_FIXTURES["pope"]["question_file"](tmp_path / "pope")
    model = HedgesOnAbsentObjects("hedges")
    first = run(RunConfig(model="hedges", tasks=("pope",), data={"": data}, images=images,
                          out=tmp_path / "a"), model)
    strict_run = run(RunConfig(model="hedges", tasks=("pope",), data={"": data}, images=images,
                               policy="strict", out=tmp_path / "s"), HedgesOnAbsentObjects("hedges"))
    shutil.rmtree(tmp_path / "pope")  # the data and images are gone; the model was never saved
    original = results_of(tmp_path / "a")
    assert main(["rescore", str(tmp_path / "a")]) == 0
    again = results_of(tmp_path / "a")
    assert without_scored(again) == without_scored(original)
    assert again["scored"]["by"] == "rescore" and again["scored"]["versions"]["vlmeval"]
    assert main(["rescore", str(tmp_path / "a"), "--policy", "strict"]) == 0
    assert "main policy strict (the run used official)" in capsys.readouterr().out
    strict = results_of(tmp_path / "a")["tasks"]["pope"]
    assert strict["policy"] == "strict"
    assert strict["metrics"] == first.results["tasks"]["pope"]["by_policy"]["strict"]["metrics"]
    assert strict["metrics"] == strict_run.results["tasks"]["pope"]["metrics"]
    assert strict["metrics"]["adversarial/unparsed_rate"]["value"] == 0.5
    # The pages read the records as the rescored results do.
    records = load_run(tmp_path / "a").records["pope"]
    assert {r["parse_status"] for r in records if r["raw"] == "I think not"} == {"unparsed"}


def test_rescore_names_a_task_whose_version_changed(tmp_path, capsys, monkeypatch):
    assert main(["run", "--model", "baseline:oracle", "--tasks", "counting", "--limit", "2",
                 "--out", str(tmp_path / "a")]) == 0
    from vlmeval.tasks.suites import resolve_task

    monkeypatch.setattr(resolve_task("counting"), "version", "2")
    capsys.readouterr()
    assert main(["rescore", str(tmp_path / "a")]) == 0
    assert "counting: ran as version 1, installed version 2" in capsys.readouterr().out
    assert results_of(tmp_path / "a")["tasks"]["counting"]["run_version"] == "1"


def test_rescore_of_an_unfinished_run_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(KeyboardInterrupt):
        run(RunConfig(model="test:flaky", tasks=("pope",), limit=5, batch_size=8, out=tmp_path / "r"),
            FlakyAdapter(interrupt_after=2))
    assert main(["rescore", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "pope has 16 stored records of 90 planned" in err and "resume" in err


def test_docs_describe_every_field_of_the_schema():
    from pathlib import Path

    from vlmeval.schema import FORMAT_VERSION, RUN_FIELDS, SAMPLE_FIELDS, TASK_FIELDS

    doc = (Path(__file__).parents[1] / "docs" / "run-directory.md").read_text()
    assert f"# The run directory (format {FORMAT_VERSION})" in doc
    for field in (*SAMPLE_FIELDS, *RUN_FIELDS, *TASK_FIELDS):
        assert f"`{field}`" in doc, f"docs/run-directory.md does not describe {field!r}"


def test_a_run_written_by_another_format_is_refused_with_a_one_line_error(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", "--model", "baseline:oracle", "--tasks", "pope", "--limit", "1",
                 "--out", str(out)]) == 0
    meta = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps({**meta, "format_version": 1}))
    capsys.readouterr()
    for argv in (["rescore", str(out)], ["report", str(out)],
                 ["run", "--model", "baseline:oracle", "--tasks", "pope", "--limit", "1", "--out", str(out)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "format_version 1" in err and "--overwrite" in err
    assert main(["run", "--model", "baseline:oracle", "--tasks", "pope", "--limit", "1",
                 "--out", str(out), "--overwrite"]) == 0


def test_duplicated_and_damaged_middle_lines_heal_on_resume(tmp_path, capsys):
    """A line written twice collapses to the newest; a damaged line (NUL bytes, `{}`, not JSON)
    is recomputed; readers name the damaged line instead of crashing."""
    argv = ["run", "--model", "baseline:blind", "--tasks", "pope", "--limit", "5", "--out",
            str(tmp_path / "r")]
    assert main(argv) == 0
    samples = tmp_path / "r" / "samples" / "pope.jsonl"
    clean = samples.read_text()
    original = results_of(tmp_path / "r")
    lines = clean.splitlines(keepends=True)
    damaged = [*lines[:3], lines[2], "\x00\x00{bad\n", "{}\n", *lines[5:]]  # 3 dup, 4 and 5 lost
    samples.write_text("".join(damaged))
    capsys.readouterr()
    assert main(["report", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "pope.jsonl:5: damaged line (2 in the file" in err
    assert main(argv) == 0
    assert "2 damaged line(s) (first: line 5); their requests are computed again" in capsys.readouterr().err
    healed = [json.loads(l) for l in samples.read_text().splitlines()]
    assert [r["request_id"] for r in healed] == [json.loads(l)["request_id"] for l in lines]
    assert measured_apart(results_of(tmp_path / "r")) == measured_apart(original)


def test_a_run_scored_under_another_option_score_rule_is_not_resumed(tmp_path, capsys):
    """An adapter's option-score rule (Hugging Face: summed surface forms) is part of a run's
    identity: samples scored one way are not mixed with samples scored another."""
    out = tmp_path / "r"
    argv = ["run", "--model", "baseline:oracle", "--tasks", "pope", "--limit", "1", "--out", str(out)]
    assert main(argv) == 0
    meta = json.loads((out / "run.json").read_text())
    meta["model"]["option_scores"] = "the literal option tokens only"
    (out / "run.json").write_text(json.dumps(meta))
    capsys.readouterr()
    assert main(argv) == 2
    assert "different model.option_scores" in capsys.readouterr().err


def test_samples_are_read_in_chunks_that_name_each_damaged_line(tmp_path, monkeypatch):
    """Lines are parsed SCAN_CHUNK at a time (their records share key strings and repeated
    values); a damaged line, a line holding two records or a record split over two lines is
    still named by its own number, and every other line of its chunk is read."""
    from vlmeval import store as store_module

    monkeypatch.setattr(store_module, "SCAN_CHUNK", 4)
    out = tmp_path / "r"
    assert main(["run", "--model", "baseline:oracle", "--tasks", "pope", "--limit", "2",
                 "--out", str(out), "-q"]) == 0
    samples = out / "samples" / "pope.jsonl"
    lines = samples.read_text().splitlines(keepends=True)
    assert len(lines) == 36
    two = lines[6].rstrip("\n") + ", " + lines[7]  # two records on line 7
    split = lines[9].split(', "prompt"')  # a record split over lines 9 and 10
    damaged = [*lines[:5], "{bad\n", two, lines[8], split[0] + "\n", '"prompt"' + split[1],
               *lines[10:]]
    samples.write_text("".join(damaged))
    records, bad = store_module.RunStore(out).scan("pope")
    assert bad == [6, 7, 9, 10]
    # what a resume reads: ids in file order, answered or not, the same damaged lines
    from vlmeval.schema import is_answer

    order, answered, also_bad = store_module.RunStore(out).answers("pope")
    assert also_bad == bad and order == [r["request_id"] for r in records]
    assert answered == {r["request_id"]: is_answer(r) for r in records} and any(answered.values())
    expected = [json.loads(line) for i, line in enumerate(lines) if i not in (5, 6, 7, 9)]
    assert records == expected
    assert all(a is b for a, b in zip(records[0], records[1]))  # one copy of each key a chunk
    assert records[0]["policy"] is records[-1]["policy"]


def test_records_share_equal_values_and_tell_apart_what_equality_does_not(tmp_path):
    """Read records share one object per distinct image, meta, verdict, prompt (a POPE record
    4.3 -> 0.7 KB), but 1, 1.0 and true, or the same keys in another order, stay what they are;
    a report's reread verdicts update the records in place, equal verdicts shared too."""
    from vlmeval.store import RunStore, _frozen, shared_value

    shared: dict = {}
    values = [1, 1.0, True, {"a": 1, "b": 2}, {"b": 2, "a": 1}, {"a": True, "b": 2}, [1], [True]]
    got = [shared_value(shared, v) for v in values]
    assert [type(g) for g in got] == [type(v) for v in values]
    assert [list(g.items()) if isinstance(g, dict) else g for g in got] == [
        list(v.items()) if isinstance(v, dict) else v for v in values]
    assert got[2] is True and got[7][0] is True and len({_frozen(v) for v in values}) == len(values)
    assert shared_value(shared, {"a": 1, "b": 2}) is got[3] and shared_value(shared, None) is None

    out = tmp_path / "r"
    assert main(["run", "--model", "baseline:oracle", "--tasks", "pope", "--limit", "2",
                 "--out", str(out), "-q"]) == 0
    records = RunStore(out).load_records("pope")
    same_image = [r for r in records if r["sample_id"] == records[0]["sample_id"]]
    assert len(same_image) > 1 and all(r["image"] is records[0]["image"] for r in same_image)
    assert all(r["options"] is records[0]["options"] for r in records)
    run = load_run(out)
    verdicts = {id(r["verdict"]) for r in run.records["pope"]}
    assert len(verdicts) == len({json.dumps(r["verdict"]) for r in run.records["pope"]}) < len(records)
    assert [json.loads(line) for line in (out / "samples/pope.jsonl").open()] == records


def test_the_report_reads_a_finished_run_one_chunk_at_a_time_and_shows_what_a_full_load_shows(
        tmp_path, monkeypatch):
    """write_report streams a task's records when its file holds one line per planned request
    (the page equals one rendered from every record at once); a file with a retried line is
    loaded whole (newest line per request); an id stored twice in a file of the planned length
    is a one-line error. Records read are plain dicts sharing one key table. The page a run
    writes is the one `vlmeval report` writes afterwards."""
    import sys

    from vlmeval import store as store_module
    from vlmeval.reports.render import report_html
    from vlmeval.store import RunDirError, RunStore

    monkeypatch.setattr(store_module, "SCAN_CHUNK", 7)
    out = tmp_path / "r"
    assert main(["run", "--model", "baseline:oracle", "--tasks", "pope,chair", "--limit", "3",
                 "--out", str(out), "-q"]) == 0
    store = RunStore(out)
    planned = {e["name"]: e["n_requests"] for e in json.loads((out / "run.json").read_text())["tasks"]}
    streamed = store.stream_records("pope", planned["pope"])
    assert not isinstance(streamed, list)  # a generator: nothing read yet
    assert list(streamed) == store.load_records("pope")
    assert report_html(load_run(out, records=False)) == report_html(load_run(out))
    # the run's own page shows run.json as the run ended (it said "finished: None")
    assert (out / "report.html").read_text(encoding="utf-8") == report_html(load_run(out))

    record = store.load_records("pope")[0]
    assert type(record) is dict and json.loads(json.dumps(record)) == record
    if sys.implementation.name == "cpython":
        assert sys.getsizeof(record) < sys.getsizeof(dict(record))  # the shared key table

    samples = out / "samples" / "pope.jsonl"
    lines = samples.read_text().splitlines(keepends=True)
    failed = {**json.loads(lines[1]), "raw": None, "error": "timed out", "verdict": None}
    samples.write_text("".join([lines[0], json.dumps(failed) + "\n", *lines[1:]]))  # a retry
    retried = store.stream_records("pope", planned["pope"])
    assert isinstance(retried, list) and retried == store.load_records("pope")
    assert [r["request_id"] for r in retried] == [json.loads(l)["request_id"] for l in lines]

    samples.write_text("".join([lines[0], lines[0], *lines[2:]]))  # line 2's request missing
    with pytest.raises(RunDirError, match="stored twice and another not at all"):
        list(store.stream_records("pope", planned["pope"]))


def test_an_unreadable_samples_file_is_named_as_such_by_the_report(tmp_path, capsys):
    """The report is written while the records are read: a samples file it cannot open (a
    folder in its place) is a one-line error naming that file, not the page being written,
    and the page already there is kept."""
    out = tmp_path / "r"
    assert main(["run", "--model", "baseline:oracle", "--tasks", "pope", "--limit", "2",
                 "--out", str(out), "-q"]) == 0
    page = (out / "report.html").read_bytes()
    samples = out / "samples" / "pope.jsonl"
    samples.unlink()
    samples.mkdir()
    capsys.readouterr()
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{samples}: cannot read" in err
    assert (out / "report.html").read_bytes() == page and not list(out.glob(".report.html*"))
