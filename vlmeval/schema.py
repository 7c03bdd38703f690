"""The run directory's schema, in one place: the sample record (one line of samples/<task>.jsonl)
and the fields of run.json and its task entries. docs/run-directory.md describes it for outside
tools; FORMAT_VERSION changes whenever a field is removed, changes meaning or is added as required (an
optional field that older records lack, read as absent, keeps it).

Readers check what they load against this schema, so a damaged or foreign file is named with
the field that is wrong instead of failing somewhere deep in scoring.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from vlmeval.errors import UserError

# 2: samples carry `schema`; a failed request is retried on resume (newest line wins); run.json
#    task entries carry `registry_key` and `scoring` (everything scoring needs besides the
#    records); results.json keeps full precision and records how it was scored.
FORMAT_VERSION = 2


class SchemaError(UserError):
    """A run-directory file that does not follow the schema (names the file and the field)."""


@dataclass(frozen=True)
class SampleRecord:
    """One request and what the model did with it: the line written to samples/<task>.jsonl.

    raw is the exact model output (None when the request failed; `error` then says why);
    parsed/parse_status/verdict are what the task read from raw under `policy` when the run
    stored it (scoring reads raw again, so a fixed parser applies to old runs: `vlmeval
    rescore`). A record with an error is not an answer: it is retried when the run resumes and
    left out of every metric.
    """

    task: str
    sample_id: str
    request_id: str
    variant: str
    image: Mapping[str, str] | None  # {source, key, sha256}
    prompt: str
    model_prompt: str | None  # the text after the model's chat template, if the adapter knows it
    target: str
    options: tuple[str, ...]
    meta: Mapping[str, Any]
    raw: str | None
    policy: str
    option_logprobs: tuple[float, ...] | None
    parsed: str | None
    parse_status: str  # ok | unparsed | error
    verdict: Mapping[str, Any] | None  # {correct, outcome, scores}
    error: str | None
    latency_ms: float
    usage: Mapping[str, int] | None = None  # tokens, where a served model reports them
    schema: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        # Field by field, not dataclasses.asdict: its deep copy was 2.6 s of the 36 s main job.
        data = {f: getattr(self, f) for f in SAMPLE_FIELDS}
        data["options"] = list(self.options)
        data["option_logprobs"] = (list(self.option_logprobs)
                                   if self.option_logprobs is not None else None)
        data["meta"] = dict(self.meta)
        data["image"] = dict(self.image) if self.image is not None else None
        data["usage"] = dict(self.usage) if self.usage is not None else None
        return data


SAMPLE_FIELDS = tuple(f.name for f in fields(SampleRecord))
# The request part of a record: two runs ask the same thing under a request id when these are
# equal (compare and gate pair runs on such requests).
REQUEST_FIELDS = ("task", "sample_id", "variant", "image", "prompt", "target", "options", "meta")
# Fields a reader needs: records written before `schema` and `usage` existed lack only those
# (a missing usage reads as not reported; adding an optional field keeps the format version).
_OPTIONAL = ("schema", "usage")
_REQUIRED = tuple(n for n in SAMPLE_FIELDS if n not in _OPTIONAL)
_TYPES: dict[str, tuple[type, ...]] = {
    "task": (str,), "sample_id": (str,), "request_id": (str,), "variant": (str,),
    "image": (dict, type(None)), "prompt": (str,), "model_prompt": (str, type(None)),
    "target": (str,), "options": (list,), "meta": (dict,), "raw": (str, type(None)),
    "policy": (str,), "option_logprobs": (list, type(None)), "parsed": (str, type(None)),
    "parse_status": (str,), "verdict": (dict, type(None)), "error": (str, type(None)),
    "latency_ms": (int, float), "usage": (dict, type(None)), "schema": (int,),
}


def check_record(data: Any, where: str) -> dict[str, Any]:
    """A loaded samples line, checked against SampleRecord; `where` is "file:line"."""
    if not isinstance(data, dict):
        raise SchemaError(f"{where}: a sample record must be a JSON object, got "
                          f"{type(data).__name__}; the file is damaged, delete it to recompute "
                          f"that task")
    missing = [n for n in _REQUIRED if n not in data]
    if missing:
        raise SchemaError(f"{where}: sample record without field {missing[0]!r}; it was not "
                          f"written by this vlmeval (format {FORMAT_VERSION}): delete the file "
                          f"to recompute that task")
    for name, types in _TYPES.items():
        if name in data and not isinstance(data[name], types):
            raise SchemaError(f"{where}: field {name!r} is {type(data[name]).__name__}, expected "
                              f"{' or '.join(t.__name__ for t in types)}; delete the file to "
                              f"recompute that task")
    if data["raw"] is None and data["error"] is None:
        raise SchemaError(f"{where}: record {data['request_id']!r} has neither raw output nor "
                          f"error; delete the file to recompute that task")
    return data


def is_answer(record: Mapping[str, Any]) -> bool:
    """A record the model answered (no error): only these enter metrics."""
    return record["error"] is None and record["raw"] is not None


# --- run.json --------------------------------------------------------------------------------

# Field -> what it holds (docs/run-directory.md has the long form).
RUN_FIELDS: dict[str, str] = {
    "format_version": "this schema's version (FORMAT_VERSION)",
    "status": "running | finished | incomplete | interrupted",
    "argv": "the command line",
    "started": "ISO time of the first attempt", "finished": "ISO time it finished, or null",
    "seed": "sampling and bootstrap seed", "policy": "main parsing policy of the run",
    "max_error_rate": "errored share of a task's requests above which the run is incomplete",
    "limit": "--limit, or null", "batch_size": "requests per batch, or auto", "suite": "suite or null",
    "versions": "python, vlmeval, torch, transformers, numpy, pillow, git_rev",
    "model": "spec, adapter, fingerprint, and what the adapter reports (params, image_tokens...)",
    "tasks": "one entry per task (TASK_FIELDS)",
    "attempts": "one entry per invocation: started, computed, ranks, counters",
}
TASK_FIELDS: dict[str, str] = {
    "name": "the task's name in samples/ and results.json (image_swap:counting)",
    "registry_key": "the registered task or probe class (image_swap)",
    "version": "task version that built the requests",
    "args": "the arguments that shaped the requests (limit, seed, data, ...)",
    "scoring": "everything scoring needs besides the records (synonym table, settings, ...)",
    "data_fingerprint": "sha256 of the planned requests (first 16 hex digits)",
    "n_requests": "planned requests",
}


def check_run(data: Any, where: str) -> dict[str, Any]:
    """run.json, checked for the fields scoring and the pages read."""
    if not isinstance(data, dict):
        raise SchemaError(f"{where}: must be a JSON object; delete the run directory or rerun "
                          f"with --overwrite")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise SchemaError(f"{where}: format_version {version!r}, this vlmeval reads "
                          f"{FORMAT_VERSION}; rerun the run with this version (--overwrite)")
    for name in ("status", "seed", "policy", "model", "tasks"):
        if name not in data:
            raise SchemaError(f"{where}: no field {name!r}; the file is damaged, rerun with "
                              f"--overwrite")
    if not isinstance(data["tasks"], list):
        raise SchemaError(f"{where}: field 'tasks' must be a list")
    for i, entry in enumerate(data["tasks"]):
        missing = [n for n in TASK_FIELDS if not isinstance(entry, dict) or n not in entry]
        if missing:
            raise SchemaError(f"{where}: tasks[{i}] has no field {missing[0]!r}; the file is "
                              f"damaged, rerun with --overwrite")
    return data
