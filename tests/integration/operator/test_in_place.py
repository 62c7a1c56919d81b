"""Recovery in place (runPolicy.recovery InPlace, the built-in trainer's default): a training
process that dies while its pod is healthy is restarted by torchrun's agent inside the
running pods, a lost pod is replaced alone while the others stay, and every rank resumes
from the latest checkpoint on the curve the job would have followed undisturbed."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

from support.curves import STEPS, assert_resumed_on_the_same_curve
from support.job_helpers import (
    phase_is,
    pods,
    running_with_checkpoint,
    submit,
    tiny_trainer_job,
    wait_for_status,
    worker_pid,
    write_token_corpus,
)
from testenv.controlplane import ControlPlane


def _uids(control_plane: ControlPlane, namespace: str, job: str) -> dict[str, str]:
    return {p["metadata"]["name"]: p["metadata"]["uid"] for p in pods(control_plane, namespace, job)}


def _events(control_plane: ControlPlane, namespace: str, reason: str) -> list[str]:
    listed = control_plane.kubectl("-n", namespace, "get", "events", "-o", "json").stdout
    return [e["message"] for e in json.loads(listed)["items"] if e["reason"] == reason]


def test_a_killed_training_process_restarts_inside_the_running_pods(
    control_plane: ControlPlane, namespace: str, tmp_path: Path, undisturbed: dict[int, float]
) -> None:
    submit(
        control_plane,
        namespace,
        tiny_trainer_job("inplace", write_token_corpus(tmp_path / "data").parent, tmp_path / "ckpt", steps=STEPS),
    )
    before = wait_for_status(
        control_plane, namespace, "inplace",
        running_with_checkpoint(40),
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
    assert "restarted in place (restart 1 of the job): WorkerKilled" in log
    assert_resumed_on_the_same_curve(log, undisturbed, before["checkpoint"]["step"])


def test_a_deleted_pod_is_replaced_alone_while_the_others_stay(
    control_plane: ControlPlane, namespace: str, tmp_path: Path, undisturbed: dict[int, float]
) -> None:
    submit(
        control_plane,
        namespace,
        tiny_trainer_job("replace", write_token_corpus(tmp_path / "data").parent, tmp_path / "ckpt", steps=STEPS),
    )
    before = wait_for_status(
        control_plane, namespace, "replace",
        running_with_checkpoint(40),
        "a checkpoint at step 40 or later",
    )  # fmt: skip
    uids = _uids(control_plane, namespace, "replace")
    control_plane.kubectl("-n", namespace, "delete", "pod", "replace-node-1", "--wait=false")

    seen: list[dict[str, Any]] = []
    final = wait_for_status(
        control_plane, namespace, "replace", phase_is("Succeeded", "Failed"), "the job to end", seen=seen
    )
    assert final["phase"] == "Succeeded", final
    assert any(st.get("phase") == "Restarting" for st in seen), "the job never showed the replacement"
    counts = (final["restarts"], final["restartsInPlace"], final["podReplacements"], final["attempt"])
    assert counts == (0, 0, 1, 1), ("a pod stopped on purpose costs no restart", final.get("failure"))
    after = _uids(control_plane, namespace, "replace")
    assert after["replace-node-0"] == uids["replace-node-0"], "rank 0's pod stays"
    assert after["replace-node-1"] != uids["replace-node-1"], "rank 1's pod is a new one"
    assert _events(control_plane, namespace, "ReplacingPod") == [
        "PodLost on rank 1 (replace-node-1): the pod of rank(s) 1 was deleted, evicted or lost with its node; "
        "replacing replace-node-1 alone: the other pods stay, their training processes restart in place and "
        "every rank resumes from the checkpoint"
    ]
    log = control_plane.kubectl("-n", namespace, "logs", "replace-node-0").stdout
    assert_resumed_on_the_same_curve(log, undisturbed, before["checkpoint"]["step"])
