"""Recovery in place (runPolicy.recovery InPlace, the built-in trainer's default): a training
process that dies while its pod is healthy is restarted by torchrun's agent inside the
running pods, and every rank resumes from the latest checkpoint."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

from support.job_helpers import (
    phase_is,
    pods,
    submit,
    tiny_trainer_job,
    wait_for_status,
    worker_pid,
    write_token_corpus,
)
from support.operator_fixture import RunningOperator
from testenv.controlplane import ControlPlane


def _uids(control_plane: ControlPlane, namespace: str, job: str) -> dict[str, str]:
    return {p["metadata"]["name"]: p["metadata"]["uid"] for p in pods(control_plane, namespace, job)}


def _events(control_plane: ControlPlane, namespace: str, reason: str) -> list[str]:
    listed = control_plane.kubectl("-n", namespace, "get", "events", "-o", "json").stdout
    return [e["message"] for e in json.loads(listed)["items"] if e["reason"] == reason]


def test_a_killed_training_process_restarts_inside_the_running_pods(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    data = write_token_corpus(tmp_path / "data").parent
    submit(control_plane, namespace, tiny_trainer_job("inplace", data, tmp_path / "ckpt", steps=300))
    before = wait_for_status(
        control_plane, namespace, "inplace",
        lambda st: st.get("phase") == "Running" and (st.get("checkpoint") or {}).get("step", 0) >= 40,
        "a checkpoint at step 40 or later",
    )  # fmt: skip
    uids = _uids(control_plane, namespace, "inplace")
    os.kill(worker_pid("inplace", 1), signal.SIGKILL)

    seen: list[dict[str, Any]] = []
    final = wait_for_status(
        control_plane, namespace, "inplace", phase_is("Succeeded", "Failed"), "the job to end", seen=seen
    )
    assert final["phase"] == "Succeeded", final
    assert (final["restarts"], final["restartsInPlace"], final["attempt"]) == (0, 1, 1)
    assert _uids(control_plane, namespace, "inplace") == uids, "the pods stay; only their processes restarted"
    failure = final["failure"]
    assert (failure["reason"], failure["rank"], failure["pod"]) == ("WorkerKilled", 1, "inplace-node-1")
    assert _events(control_plane, namespace, "RestartedInPlace") == [
        "WorkerKilled on rank 1 (inplace-node-1): rank 1 was killed by SIGKILL, probably out of memory "
        "(the kernel's OOM killer sends SIGKILL); the training processes restarted inside the running pods "
        "(restart 1 of 2)"
    ]
    log = control_plane.kubectl("-n", namespace, "logs", "inplace-node-0").stdout
    resumed = [line for line in log.splitlines() if "resumed from" in line]
    assert resumed and int(resumed[-1].split(" at step ")[1].split()[0]) >= before["checkpoint"]["step"], resumed
    assert "restarted in place (restart 1 of the job): WorkerKilled" in log
