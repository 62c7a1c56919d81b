"""Per-rank forward times: what each rank measures and what rank 0 makes of them."""

from __future__ import annotations

import time

import torch

from llmtrain_trainer.stragglers import WINDOW_STEPS, ForwardClock, RankTimes, one_slot


def test_the_clock_counts_only_what_it_measures_and_starts_again_after_each_take() -> None:
    clock = ForwardClock(torch.device("cpu"))
    started = time.perf_counter()
    with clock.measure():
        time.sleep(0.05)
    time.sleep(0.05)
    with clock.measure():
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    first = clock.take()
    # Both measured sleeps, and not the one between them, however slow the machine is.
    assert 0.1 <= first <= elapsed - 0.05, (first, elapsed)
    assert clock.take() == 0.0


def test_rank_0_takes_every_rank_s_median_over_the_last_steps() -> None:
    # Each rank fills only its own slot; the all-reduce's sum is every rank's time.
    summed = [
        a + b + c for a, b, c in zip(one_slot(0.01, 0, 3), one_slot(0.03, 1, 3), one_slot(0.02, 2, 3), strict=True)
    ]
    assert summed == [0.01, 0.03, 0.02]
    times = RankTimes(3)
    assert times.medians() == [0.0, 0.0, 0.0]
    times.add(summed)
    times.add([0.01, 0.9, 0.02])  # rank 1 paused once by the host
    times.add([0.01, 0.03, 0.02])
    assert times.medians() == [0.01, 0.03, 0.02], "one slow step is no straggler"
    for _ in range(WINDOW_STEPS):
        times.add([0.01, 0.05, 0.02])
    assert times.medians() == [0.01, 0.05, 0.02], "only the last steps count"
