"""`vlmeval doctor --model SPEC`: does the model see what we think it sees?

On a few built-in scenes questions: batch of 1 against one batch (outputs and option scores
must agree), the same questions about other images and about a blank image (the image must
reach the model: option scores move, and usually some answers change), the image tokens per
sample and the adapter's fingerprint. Exit code 0 when every check passes, 1 when one fails.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from vlmeval.adapters import Adapter
from vlmeval.data import prompts, scenes_samples, synthetic_ref
from vlmeval.errors import first_line
from vlmeval.records import Request

SCORE_TOLERANCE = 1e-4  # log-probability difference that counts as "the same"


def doctor_requests(n: int) -> list[Request]:
    """n yes/no presence questions about the first n eval images (their first object)."""
    out = []
    for s in scenes_samples("eval", n):
        category = s.objects[0]
        out.append(Request(task="doctor", request_id=s.id, sample_id=s.id,
                           prompt=prompts.presence_question(category), image=s.image,
                           target="yes", options=("yes", "no"), max_new_tokens=8))
    return out


def _scores(adapter: Adapter, requests: Sequence[Request]) -> list[list[float]] | None:
    return adapter.score(requests) if "score" in adapter.capabilities else None


def _max_gap(a: list[list[float]] | None, b: list[list[float]] | None) -> float | None:
    if a is None or b is None:
        return None
    return max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb))


def diagnose(adapter: Adapter, n: int = 8) -> tuple[list[str], bool]:
    """Report lines and whether every check passed. An adapter that raises fails the check it
    was running, with its message (never a traceback)."""
    head = [f"model         {adapter.name}",
            f"adapter       {type(adapter).__name__} · fingerprint {adapter.fingerprint}"]
    try:
        lines, ok = _checks(adapter, n)
    except Exception as e:  # noqa: BLE001 - any model failure is a failed check, reported
        return head + [f"FAILED        the model raised {type(e).__name__}: {first_line(e)}"], False
    return head + lines, ok


def _checks(adapter: Adapter, n: int) -> tuple[list[str], bool]:
    requests = doctor_requests(n)
    batched = adapter.generate(requests)
    single = [adapter.generate([r])[0] for r in requests]
    batched_scores = _scores(adapter, requests)
    single_scores = [s for r in requests for s in adapter.score([r])] if batched_scores else None
    batch_gap = _max_gap(batched_scores, single_scores)
    same_batch = batched == single and (batch_gap is None or batch_gap <= SCORE_TOLERANCE)

    rotated = [replace(r, image=requests[(i + 1) % n].image) for i, r in enumerate(requests)]
    blank = [replace(r, image=synthetic_ref("blank")) for r in requests]
    swapped_out, blank_out = adapter.generate(rotated), adapter.generate(blank)
    swap_gap = _max_gap(batched_scores, _scores(adapter, rotated))
    changed = sum(a != b for a, b in zip(batched, swapped_out))
    blank_changed = sum(a != b for a, b in zip(batched, blank_out))
    sees = changed > 0 or blank_changed > 0 or (swap_gap is not None and swap_gap > SCORE_TOLERANCE)

    info = adapter.info()
    lines = [
        f"parameters    {info.get('params', 'n/a (not reported)')}",
        f"image tokens  {info['image_tokens']} per image" if info.get("image_tokens") is not None
        else "image tokens  n/a (not reported)",
        f"batch 1 vs {n:<3}{'agree' if same_batch else 'DIFFER'}: outputs "
        f"{sum(a == b for a, b in zip(batched, single))}/{n} equal"
        + (f", largest option log-prob gap {batch_gap:.2e}" if batch_gap is not None else ""),
        f"image reaches {'yes' if sees else 'NO'}: answers change on {changed}/{n} questions when "
        f"the image is swapped and on {blank_changed}/{n} with a blank image"
        + (f"; option log-probs move by up to {swap_gap:.3f}" if swap_gap is not None else ""),
        f"example       {requests[0].prompt!r} -> {batched[0]!r}",
    ]
    if hasattr(adapter, "render"):
        lines.append(f"model prompt  {adapter.render(requests[:1])[0]!r}")
    if info.get("served_model"):
        lines.append(f"served        {info['served_model']} at {info['base_url']} · option "
                     f"scores {'yes' if 'score' in adapter.capabilities else 'no (no log-probabilities)'}")
    if str(info.get("video", "")).startswith("unavailable"):
        lines.append(f"video         {info['video']}")
    return lines, same_batch and sees
