"""The adapter protocol: a typed batch interface over lists of requests.

Adapters turn Requests into raw text (and, if they can, option log-probabilities). They never
parse or score; tasks and probes never touch tensors.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

from vlmeval.records import ImageRef, Request


class Reply(str):
    """An output with what it cost: `usage` ({"prompt_tokens": n, "completion_tokens": m}, as
    a served model reports it). Adapters may return these in place of plain strings."""

    usage: Mapping[str, int] | None = None

    def __new__(cls, text: str, usage: Mapping[str, int] | None = None) -> "Reply":
        reply = super().__new__(cls, text)
        reply.usage = dict(usage) if usage else None
        return reply


class Ahead(dict):
    """Work an adapter's `prefetch` started in a background thread for the batch the runner
    computes next, by key: key -> (the prefetch call, the arguments, their future). The
    arguments are held with it (a key of object ids stays theirs). `told()`, at each prefetch
    call, keeps what the call before started (the batch about to be computed) and drops
    anything older; `take(key)` hands over a future once."""

    def __init__(self) -> None:
        super().__init__()
        self._calls = 0
        self._pool = None  # one thread, made on first use

    def told(self) -> None:
        self._calls += 1
        for key in [k for k, (call, _, _) in self.items() if call < self._calls - 1]:
            del self[key]

    def start(self, key: Any, fn: Callable[..., Any], *args: Any) -> None:
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(1, thread_name_prefix="vlmeval-prefetch")
        self[key] = (self._calls, args, self._pool.submit(fn, *args))

    def take(self, key: Any) -> Future | None:
        entry = self.pop(key, None)
        return None if entry is None else entry[2]


@dataclass(frozen=True)
class Failed:
    """In place of one request's output or scores: that request failed with `error`, and the
    others in its batch stand (an adapter that sends requests one by one, as a served model
    does, reports failures this way instead of raising for the whole batch)."""

    error: str


def same_request(request: Request) -> tuple[str, str, str, str | None]:
    """What identifies a request between an adapter's generate and score calls on the same
    batch (an adapter may score from generate's own forward pass)."""
    return (request.task, request.request_id, request.prompt,
            request.image.sha256 if request.image is not None else None)


def image_key(ref: ImageRef | None) -> str | ImageRef | None:
    """What identifies an image's content: its sha256 (the reference where it has none)."""
    return ref if ref is None else ref.sha256 or ref


def answer_key(request: Request) -> tuple:
    """What a greedy local model's answer and option scores are a function of: the image, the
    prompt, the options and the token limit. An adapter that reads nothing else offers it as
    `answer_key`; the runner then computes a run's identical requests once
    (`runner.identical_requests`)."""
    return image_key(request.image), request.prompt, tuple(request.options), request.max_new_tokens


@runtime_checkable
class Adapter(Protocol):
    """What the runner needs from a model.

    name: the model spec it was built from. fingerprint: changes whenever weights, config or
    preprocessing change (a run directory refuses to mix fingerprints). capabilities: a subset
    of {"generate", "score"}. info: plain facts recorded in run.json (params, image_tokens).
    Optional: render(requests) -> list[str], the text each request becomes after the model's
    chat template (stored as `model_prompt` in the samples); answer_key(request) -> a hashable
    value, for a model whose answers are a function of it (greedy decoding of a local model):
    the runner then computes each distinct key of a run once and copies its answer to the
    requests that repeat it (`runner.identical_requests`); default_batch_size, the requests
    per batch when the run names none (else runner.DEFAULT_BATCH); prefetch(requests), told
    the batch that comes next just before the current one is computed (the native adapter
    decodes its image files in a background thread meanwhile; the HF adapter, asked to, builds
    its inputs). generate and score may put a
    `Failed` in place of a request's result, and generate may return `Reply` strings that carry
    token usage.
    """

    name: str
    fingerprint: str
    capabilities: frozenset[str]

    def generate(self, requests: Sequence[Request]) -> list[str]:
        """One raw output per request, in order."""
        ...

    def score(self, requests: Sequence[Request]) -> list[list[float]]:
        """Log-probabilities of each request's `options`, in order (needs "score")."""
        ...

    def info(self) -> dict:
        ...

    def counters(self) -> dict:
        """Running counts of work done (e.g. {"encoder_calls": n}), recorded per attempt."""
        ...
