"""Progress of a task's requests: a tqdm bar on a terminal; without one (CI, nohup, a pipe) a
plain line on stderr every `every` seconds and when the task ends, so a log shows the run
moving: requests done, rate, time left, errors. `quiet` prints nothing."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Progress:
    def __init__(self, name: str, total: int, done: int, *, quiet: bool = False,
                 every: float = 30.0, stream: TextIO | None = None) -> None:
        self.name, self.total, self.done, self.errors = name, total, done, 0
        self.stream = stream or sys.stderr
        self.every, self.quiet = every, quiet
        self.terminal = self.stream.isatty()
        self.bar = (tqdm(total=total, initial=done, desc=name, unit="req", file=self.stream,
                         dynamic_ncols=True) if self.terminal and not quiet else None)
        self.start = self.last = time.monotonic()
        self.first = done

    def update(self, n: int, errors: int = 0) -> None:
        self.done += n
        self.errors += errors
        if self.bar is not None:
            self.bar.update(n)
        elif not self.quiet and time.monotonic() - self.last >= self.every:
            self.line()

    def line(self) -> None:
        now = time.monotonic()
        self.last = now
        rate = (self.done - self.first) / max(now - self.start, 1e-9)
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        eta = _duration(left) if left == left else "?"
        print(f"vlmeval: {self.name} {self.done:,}/{self.total:,} requests "
              f"({100 * self.done / max(self.total, 1):.0f}%) · {rate:.1f}/s · ETA {eta} · "
              f"{self.errors} errors", file=self.stream, flush=True)

    def close(self, finished: bool = True) -> None:
        if self.bar is not None:
            self.bar.close()
        elif finished and not self.quiet and self.done > self.first:
            self.line()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.close(finished=kind is None)  # on an error, its own line is the last word
