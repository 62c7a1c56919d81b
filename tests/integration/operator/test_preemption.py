"""A node drained under a running job: the evicted rank and its peers save a checkpoint in
their grace period, and the next attempt resumes from it, on the undisturbed job's loss curve,
without using the restart budget."""

from __future__ import annotations

from pathlib import Path

from support.curves import STEPS, assert_resumed_on_the_same_curve
from support.job_helpers import (
    phase_is,
    pods,
    running_at_step,
    submit,
    tiny_trainer_job,
    wait_for_status,
    write_token_corpus,
)
from support.operator_fixture import RunningOperator
from testenv.controlplane import ControlPlane


def test_a_drained_node_s_job_resumes_from_the_checkpoint_saved_on_sigterm_without_using_its_restarts(
    running_operator: RunningOperator,
    control_plane: ControlPlane,
    namespace: str,
    tmp_path: Path,
    undisturbed: dict[int, float],
) -> None:
    data = write_token_corpus(tmp_path / "data").parent
    job = tiny_trainer_job("drained", data, tmp_path / "ckpt", steps=STEPS)
    # The whole gang stops and resumes (a lost pod of a job recovering in place is replaced
    # alone: test_in_place).
    job["spec"]["runPolicy"].update(backoffLimit=0, recovery="Gang")
    # No periodic checkpoint: the only one the next attempt can resume from is saved on SIGTERM.
    job["spec"]["trainer"]["checkpoint"]["interval"] = 10_000
    submit(control_plane, namespace, job)
    wait_for_status(
        control_plane, namespace, "drained",
        running_at_step(30),
        "step 30",
    )  # fmt: skip
    node = next(
        p["spec"]["nodeName"] for p in pods(control_plane, namespace, "drained") if p["metadata"]["name"].endswith("-1")
    )
    try:
        control_plane.kubectl(
            "drain", node, "--delete-emptydir-data", "--force", "--ignore-daemonsets", "--pod-selector",
            "llmtrain.dev/job-name=drained", "--timeout=180s",
        )  # fmt: skip
        final = wait_for_status(
            control_plane, namespace, "drained", phase_is("Succeeded", "Failed"), "the job to end", timeout=300
        )
    finally:
        control_plane.kubectl("uncordon", node)

    assert final["phase"] == "Succeeded", final
    assert (final["restarts"], final["preemptions"], final["attempt"]) == (0, 1, 2)
    log = control_plane.kubectl("-n", namespace, "logs", "drained-node-0").stdout
    assert_resumed_on_the_same_curve(log, undisturbed, 30)
    events = control_plane.kubectl("-n", namespace, "get", "events", "--field-selector", "reason=Preempted").stdout
    assert "drained-node-1" in events and "not counted against backoffLimit" in events, events
