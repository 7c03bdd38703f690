"""Data-parallel runs under torchrun: `torchrun --nproc-per-node N -m vlmeval run ...`.

Every rank builds the same plan and computes every N-th batch of each task (rank r takes
batches r, r+N, r+2N, ..., so a batch is the one a single process would run), appending its
records to its own shard file
(samples/shards/rank<r>/<task>.jsonl). Rank 0 holds the run directory's lock, writes run.json,
merges the shards into samples/<task>.jsonl in planned order when every rank is done, and
scores; the merged directory reads as a single-process run. Shards left by an interrupted run
are merged when the next run starts, whatever its number of ranks, so a run resumes per rank.

The ranks talk over torch.distributed with the gloo backend (control messages only: a barrier
and the adapters' counters), on CPU and GPU machines alike. When one rank fails, torchrun stops
the others; run the same command again to resume.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Sequence, TypeVar

T = TypeVar("T")

# Rank 0 waits for the slowest rank at the end: allow a long evaluation.
BARRIER_TIMEOUT = timedelta(hours=24)


@dataclass(frozen=True)
class Ranks:
    """This process's place in a torchrun job."""

    rank: int
    world: int
    local_rank: int

    def shard(self, plan: Sequence[T], batch_size: int) -> list[T]:
        """This rank's share of a plan: every world-th batch of `batch_size` requests from its
        rank on. Whole batches, so each batch holds the requests a single process would have
        batched together (float results can depend on a batch's other rows)."""
        return [r for start in range(self.rank * batch_size, len(plan), self.world * batch_size)
                for r in plan[start:start + batch_size]]

    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier()

    def close(self) -> None:
        """Leave the process group after the last collective call (a process that exits with
        gloo's group still open can abort in its destructor: "terminate called without an
        active exception")."""
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()

    def gather(self, value: Any) -> list[Any]:
        """`value` from every rank, in rank order (a barrier too)."""
        import torch.distributed as dist

        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, value)
        return out


def from_env() -> Ranks | None:
    """The Ranks of a torchrun worker (WORLD_SIZE > 1), joining its process group; None in a
    single process."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return None
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("gloo", timeout=BARRIER_TIMEOUT)
    return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def local_device(device: str) -> str:
    """`cuda` in a torchrun worker means the local rank's GPU."""
    local = os.environ.get("LOCAL_RANK")
    if device == "cuda" and local is not None and int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        return f"cuda:{int(local)}"
    return device


def summed(counters: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Every rank's adapter counters added up (numbers summed, other values listed once)."""
    out: dict[str, Any] = {}
    for c in counters:
        for key, value in c.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[key] = out.get(key, 0) + value
            elif isinstance(value, list):
                out[key] = sorted(set(out.get(key, [])) | set(value))
            else:
                out.setdefault(key, value)
    return out
