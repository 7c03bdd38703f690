"""The adapter protocol: a typed batch interface over lists of requests.

Adapters turn Requests into raw text (and, if they can, option log-probabilities). They never
parse or score; tasks and probes never touch tensors.
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

from vlmeval.records import Request


@runtime_checkable
class Adapter(Protocol):
    """What the runner needs from a model.

    name: the model spec it was built from. fingerprint: changes whenever weights, config or
    preprocessing change (a run directory refuses to mix fingerprints). capabilities: a subset
    of {"generate", "score"}. info: plain facts recorded in run.json (params, image_tokens).
    Optional: render(requests) -> list[str], the text each request becomes after the model's
    chat template (stored as `model_prompt` in the samples).
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
