"""The shared vocabulary: plain frozen records that flow from sources to results.

Everything after the adapter is one of these records or a JSON dict made from them, never a
tensor. Images travel as references (`ImageRef`) and are decoded once per batch by
`vlmeval.data.load_images`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Literal, Mapping

ParseStatus = Literal["ok", "unparsed", "error"]


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class ImageRef:
    """Where an image comes from, without its pixels.

    source: "scenes" (built-in generator; key "split:index"), "file" (key is a path), "hf" (a
    local Hugging Face dataset; key "path#split#row") or "synthetic" (probe inputs: "blank",
    "noise:<seed>").
    sha256: of the decoded RGB pixels and size for generated images, of the file bytes for files.
    """

    source: str
    key: str
    sha256: str

    def to_json(self) -> dict[str, str]:
        return {"source": self.source, "key": self.key, "sha256": self.sha256}


@dataclass(frozen=True)
class Sample:
    """One item of a data source: an image (or none) and its ground truth.

    objects: distinct object categories present, in annotation order (POPE takes the first ones
    as positives, as the official builder does).
    """

    id: str
    image: ImageRef | None
    objects: tuple[str, ...] = ()
    fields: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", _frozen(self.fields))


@dataclass(frozen=True)
class Request:
    """One model call planned by a task or probe.

    target: the gold answer as text (the oracle baseline answers with it; tasks score against it).
    options: fixed answer options an adapter may score instead of decoding (e.g. ("yes", "no")).
    meta: task-specific plain values the scorer needs (POPE: setting, object, label).
    """

    task: str
    request_id: str
    sample_id: str
    prompt: str
    image: ImageRef | None
    target: str
    variant: str = "original"
    options: tuple[str, ...] = ()
    max_new_tokens: int = 16
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "meta", _frozen(self.meta))


@dataclass(frozen=True)
class Prediction:
    """What the adapter returned for one request; raw is the exact model output."""

    request_id: str
    raw: str | None
    option_logprobs: tuple[float, ...] | None = None
    error: str | None = None
    latency_ms: float = 0.0
    model_prompt: str | None = None  # the text the model saw (after its chat template), if known
    usage: Mapping[str, int] | None = None  # tokens, where a served model reports them


@dataclass(frozen=True)
class Parsed:
    """An answer read from raw text under a named policy; `answer` is None unless status is ok."""

    answer: str | None
    status: ParseStatus

    @classmethod
    def ok(cls, answer: str) -> "Parsed":
        return cls(answer, "ok")

    @classmethod
    def unparsed(cls) -> "Parsed":
        return cls(None, "unparsed")


@dataclass(frozen=True)
class Verdict:
    """How one parsed answer scores against its target.

    correct: None when correctness does not apply to the task (e.g. a free caption).
    outcome: a task-specific label (POPE: tp, fp, tn, fn, unparsed_pos, unparsed_neg).
    scores: per-sample numbers (e.g. VQA accuracy 0.3), plain floats; "hallucinated" > 0
    marks an answer the pages flag as a hallucination (a yes to an absent object, an object
    named that is not in the image).
    """

    correct: bool | None
    outcome: str
    scores: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "scores", _frozen(self.scores))

    def to_json(self) -> dict[str, Any]:
        return {"correct": self.correct, "outcome": self.outcome, "scores": dict(self.scores)}


@dataclass(frozen=True)
class Metric:
    """A metric value with its bootstrap 95% CI and the number of units it was computed on.

    An empty set gives value NaN with n=0, never 0.
    """

    value: float
    ci_low: float
    ci_high: float
    n: int

    def to_json(self) -> dict[str, float | int | None]:
        # JSON has no NaN: write null so every reader (browsers, jq) can load the file. Full
        # precision: values are rounded only when printed.
        def clean(x: float) -> float | None:
            return None if x != x else float(x)

        return {"value": clean(self.value), "ci_low": clean(self.ci_low),
                "ci_high": clean(self.ci_high), "n": int(self.n)}


def request_to_json(request: Request) -> dict[str, Any]:
    data = {f.name: getattr(request, f.name) for f in fields(request)}
    data["image"] = request.image.to_json() if request.image else None
    data["options"] = list(request.options)
    data["meta"] = dict(request.meta)
    return data
