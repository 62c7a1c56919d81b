"""Each rank's compute time per step, for the operator's straggler detection.

Every rank times its forward passes: with DDP a forward pass holds no collective, so its
time is the rank's own speed (a slow GPU, a busy host, a throttled CPU), while every other
part of a step waits for the slowest rank and looks alike everywhere. Under FSDP and
tensor parallelism the forward's own collectives make the faster ranks wait too, which
hides part of a straggler's slowness: the slowdown seen is a lower bound.

The times ride in the step's first all-reduce, one slot per rank, so rank 0 learns every
rank's time without a collective of its own; it exposes each rank's median over the last
WINDOW_STEPS steps (`llmtrain_rank_forward_seconds{rank}`).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections import deque
from collections.abc import Iterator

import torch


class ForwardClock:
    """The seconds this rank spends in forward passes, step by step.

    On a GPU, CUDA events are read one step later, when they have long completed, so
    timing never stalls the host; elsewhere the host clock is the device's.
    """

    def __init__(self, device: torch.device) -> None:
        self._cuda = device.type == "cuda"
        self._events: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []
        self._seconds = 0.0

    @contextlib.contextmanager
    def measure(self) -> Iterator[None]:
        if self._cuda:
            start = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            end = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            start.record()
            yield
            end.record()
            self._events.append((start, end))
            return
        started = time.perf_counter()
        yield
        self._seconds += time.perf_counter() - started

    def take(self) -> float:
        """Seconds of the forward passes measured since the last call."""
        seconds, self._seconds = self._seconds, 0.0
        for start, end in self._events:
            end.synchronize()
            seconds += start.elapsed_time(end) / 1000
        self._events.clear()
        return seconds


WINDOW_STEPS = 50
"""Steps over which rank 0 takes each rank's median: a rank the host paused for a moment is
no straggler; one slow on most of the last 50 steps is."""


class RankTimes:
    """Rank 0's record of every rank's forward seconds over the last WINDOW_STEPS steps."""

    def __init__(self, world_size: int) -> None:
        self._steps: deque[list[float]] = deque(maxlen=WINDOW_STEPS)
        self._world_size = world_size

    def add(self, per_rank: list[float]) -> None:
        self._steps.append(per_rank)

    def medians(self) -> list[float]:
        """Each rank's median forward seconds per step over the window (0 before any step)."""
        if not self._steps:
            return [0.0] * self._world_size
        return [statistics.median(step[rank] for step in self._steps) for rank in range(self._world_size)]


def one_slot(seconds: float, rank: int, world_size: int) -> list[float]:
    """This rank's contribution to the all-reduce that gives every rank's time: its own slot set."""
    slots = [0.0] * world_size
    slots[rank] = seconds
    return slots
