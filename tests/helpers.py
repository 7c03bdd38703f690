"""Planted adapters for tests: behaviour we control, so metrics have known values."""

from __future__ import annotations

import zlib

from vlmeval.adapters.baselines import BlindAdapter, OracleAdapter


class FlakyAdapter(BlindAdapter):
    """The blind baseline, but raises on chosen prompts and (optionally) after N batches."""

    def __init__(self, fail_on: str | None = None, interrupt_after: int | None = None,
                 fail_share: float = 0.0) -> None:
        super().__init__("test:flaky")
        self.fingerprint = "baseline:blind@1"  # same behaviour as the blind baseline
        self.fail_on = fail_on
        self.fail_share = fail_share  # fails the requests whose id hashes below this share
        self.interrupt_after = interrupt_after
        self.batches = 0
        self.seen: list[str] = []

    def generate(self, requests):
        if self.interrupt_after is not None and self.batches >= self.interrupt_after:
            raise KeyboardInterrupt
        self.batches += 1
        if self.fail_on and any(self.fail_on in r.prompt for r in requests):
            raise RuntimeError("planted failure")
        if any(self.fails(r) for r in requests):
            raise RuntimeError("planted failure")
        self.seen.extend(r.request_id for r in requests)
        return super().generate(requests)


    def fails(self, request) -> bool:
        return zlib.crc32(request.request_id.encode()) % 1000 < self.fail_share * 1000


class SlowBlindAdapter(BlindAdapter):
    """The blind baseline with a delay per batch, so a test can kill it mid-run."""

    def __init__(self, delay_s: float) -> None:
        super().__init__("test:slow-blind")
        self.fingerprint = "baseline:blind@1"
        self.delay_s = delay_s

    def generate(self, requests):
        import time

        time.sleep(self.delay_s)
        return super().generate(requests)


class OracleWrongOn(OracleAdapter):
    """The oracle, except on the first `wrong` yes/no requests it sees: there it gives the other
    answer (a model that differs from the oracle on exactly that many samples)."""

    def __init__(self, wrong: int, output: str | None = None) -> None:
        super().__init__(f"test:oracle-wrong-{wrong}")
        self.wrong, self.flipped, self.output = wrong, set(), output

    def answer(self, request):
        if request.target in ("yes", "no") and (request.request_id in self.flipped
                                               or len(self.flipped) < self.wrong):
            self.flipped.add(request.request_id)
            return self.output or ("no" if request.target == "yes" else "yes")
        return request.target
