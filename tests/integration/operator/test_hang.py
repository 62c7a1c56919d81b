"""A job whose training processes stop stepping (stopped by SIGSTOP, as a deadlock or a stuck
device would leave them) is restarted with the reason Hung and resumes from its checkpoint on
the loss curve of the undisturbed job."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from support.curves import STEPS, assert_resumed_on_the_same_curve
from support.job_helpers import (
    phase_is,
    running_with_checkpoint,
    submit,
    tiny_trainer_job,
    wait_for_status,
    worker_pid,
    write_token_corpus,
)
from support.operator_fixture import RunningOperator
from testenv.controlplane import ControlPlane


def test_a_job_that_stops_stepping_is_restarted_as_hung(
    running_operator: RunningOperator,
    control_plane: ControlPlane,
    namespace: str,
    tmp_path: Path,
    undisturbed: dict[int, float],
) -> None:
    data = write_token_corpus(tmp_path / "data").parent
    job = tiny_trainer_job("stuck", data, tmp_path / "ckpt", steps=STEPS)
    job["spec"]["runPolicy"]["hangTimeoutSeconds"] = 30
    submit(control_plane, namespace, job)
    before = wait_for_status(
        control_plane, namespace, "stuck",
        running_with_checkpoint(40),
        "a checkpoint at step 40 or later",
    )  # fmt: skip
    for rank in (0, 1):
        os.kill(worker_pid("stuck", rank), signal.SIGSTOP)

    seen: list[dict[str, Any]] = []
    final = wait_for_status(
        control_plane, namespace, "stuck", phase_is("Succeeded", "Failed"), "the job to end", timeout=300, seen=seen
    )
    assert final["phase"] == "Succeeded", final
    assert (final["restarts"], final["attempt"]) == (1, 2)
    hung = [st["failure"] for st in seen if st.get("phase") == "Restarting" and st.get("failure")]
    assert hung and hung[0]["reason"] == "Hung", seen[-1]
    assert hung[0]["message"].endswith("none came in 30s (runPolicy.hangTimeoutSeconds)"), hung[0]
    events = control_plane.kubectl("-n", namespace, "get", "events", "--field-selector", "reason=RestartingGang").stdout
    assert "Hung: step" in events, events
    log = control_plane.kubectl("-n", namespace, "logs", "stuck-node-0").stdout
    assert_resumed_on_the_same_curve(log, undisturbed, before["checkpoint"]["step"])
