"""`vlmeval rescore RUN_DIR`: results.json and report.html again from the stored raw outputs,
with the installed parsers and metrics, without the model or the source data.

This is how a fixed parser or a new metric reaches last month's runs. results.json records that
it was rescored, when, with which policy and which versions of the scoring code; a task whose
installed version differs from the one that built its requests is named (its requests stay
the old version's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vlmeval.provenance import versions
from vlmeval.scoring import score_run
from vlmeval.store import RunDirError, RunStore


def rescore(run_dir: Path, policy: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """Rewrite run_dir's results.json and report.html; returns the results and notes."""
    store = RunStore(Path(run_dir))
    if not store.run_json.is_file():
        raise RunDirError(f"{store.run_json}: missing; rescore needs a run directory written by "
                          f"`vlmeval run`")
    with store.lock():  # not while a run writes into it
        meta = store.read_run()
        records = {entry["name"]: store.load_records(entry["name"]) for entry in meta["tasks"]}
        results = score_run(meta, records, policy=policy, by="rescore", where=str(store.root),
                            versions=versions())
        # score_run marks a task scored by another version than ran (`run_version`).
        notes = [f"{name}: ran as version {t['run_version']}, installed version {t['version']}; "
                 f"its requests are the old version's, scored with the new code"
                 for name, t in results["tasks"].items() if "run_version" in t]
        if results["scored"]["policy"] != meta["policy"]:
            notes.append(f"main policy {results['scored']['policy']} (the run used {meta['policy']})")
        store.write_results(results)
        from vlmeval.reports.render import write_report  # matplotlib: imported only when needed

        write_report(store.root)
    return results, notes
