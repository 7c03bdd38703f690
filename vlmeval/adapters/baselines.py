"""Baseline adapters: planted behaviours that prove the probes measure what they claim.

Users run them as sanity references next to their model: a probe that does not give the oracle
a perfect score, or that gives the blind baseline any gain from the image, is broken.
"""

from __future__ import annotations

import math
import re
from typing import Sequence

from vlmeval.data import scenes
from vlmeval.records import Request

# Log-probabilities the baselines report in score mode: a confident but finite choice, so
# downstream curves (ROC, calibration) stay computable.
_SURE = math.log(0.999)
_UNSURE = math.log(0.001)
_ASKS_OBJECT = re.compile(r"^Is there an? (.+?) in the image\?", re.IGNORECASE)


class _Baseline:
    capabilities = frozenset({"generate", "score"})

    def __init__(self, name: str) -> None:
        self.name = name
        # Behaviour is fixed by code; the version string changes when the rule does.
        self.fingerprint = f"{name}@1"

    def answer(self, request: Request) -> str:
        raise NotImplementedError

    def generate(self, requests: Sequence[Request]) -> list[str]:
        return [self.answer(r) for r in requests]

    def score(self, requests: Sequence[Request]) -> list[list[float]]:
        out = []
        for r in requests:
            chosen = self.answer(r).strip(" .").lower()
            out.append([_SURE if o.lower() == chosen else _UNSURE for o in r.options])
        return out

    def info(self) -> dict:
        return {"params": 0, "image_tokens": 0}

    def counters(self) -> dict:
        return {}


class OracleAdapter(_Baseline):
    """Answers every request with its gold target: every probe must score it perfectly."""

    def answer(self, request: Request) -> str:
        return request.target


class AlwaysYesAdapter(_Baseline):
    """Answers "Yes" to everything: POPE recall 1, yes-ratio 1, false-positive rate 1."""

    def answer(self, request: Request) -> str:
        return "Yes"


class BlindAdapter(_Baseline):
    """Never looks at the image; answers from the question text with a fixed prior rule.

    For "Is there a/an X in the image?" it says "Yes" if X is one of the scenes world's six most
    frequent categories (`scenes.frequent_categories()`) and "No" otherwise: a language prior
    without vision. Any other prompt gets "No". Its answers never change with the image.
    """

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.frequent = scenes.frequent_categories()

    def answer(self, request: Request) -> str:
        match = _ASKS_OBJECT.match(request.prompt)
        if match and match.group(1).lower() in self.frequent:
            return "Yes"
        return "No"
