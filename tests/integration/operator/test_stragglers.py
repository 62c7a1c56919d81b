"""A rank slowed down while the job runs (its training process stopped for 4 ms of every 5,
so that each of its steps is slower, as on a throttled device or a busy host) is named in status
with its pod and node, and posted as a Straggler event."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from support.job_helpers import (
    pods,
    running_at_step,
    submit,
    tiny_trainer_job,
    wait_for_status,
    worker_pid,
    write_token_corpus,
)
from support.operator_fixture import RunningOperator
from testenv.controlplane import ControlPlane


@contextlib.contextmanager
def slowed_down(pid: int, stopped: float = 0.004, running: float = 0.001) -> Iterator[None]:
    """Stop and continue `pid` in turns until the block ends."""
    done = threading.Event()

    def throttle() -> None:
        while not done.is_set():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
            done.wait(stopped)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
            done.wait(running)

    thread = threading.Thread(target=throttle, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def test_a_slowed_rank_is_named_with_its_pod_and_node(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    data = write_token_corpus(tmp_path / "data").parent
    submit(control_plane, namespace, tiny_trainer_job("slow", data, tmp_path / "ckpt", steps=100_000))
    running = wait_for_status(
        control_plane, namespace, "slow",
        running_at_step(10),
        "step 10",
    )  # fmt: skip
    assert not running.get("stragglers"), running
    node = next(
        p["spec"]["nodeName"] for p in pods(control_plane, namespace, "slow") if p["metadata"]["name"] == "slow-node-1"
    )

    with slowed_down(worker_pid("slow", 1)):
        named = wait_for_status(
            control_plane, namespace, "slow", lambda st: bool(st.get("stragglers")), "a straggler in status"
        )
    [straggler] = named["stragglers"]
    assert (straggler["rank"], straggler["pod"], straggler["node"]) == (1, "slow-node-1", node)
    assert straggler["slowdown"] >= 1.5
    events = control_plane.kubectl("-n", namespace, "get", "events", "--field-selector", "reason=Straggler").stdout
    assert f"rank 1 (slow-node-1 on node {node}) takes" in events, events
    control_plane.kubectl("-n", namespace, "delete", "ltj", "slow", "--wait=false")
