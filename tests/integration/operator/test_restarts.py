"""Failures handled for the whole gang: restart and resume, backoff and the exit-code policy
(a trainer that refuses its configuration: test_failures.py)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from support.job_helpers import (
    command_job,
    kill_rank,
    phase_is,
    pods,
    running_with_checkpoint,
    shell,
    submit,
    tiny_trainer_job,
    wait_for_status,
    write_token_corpus,
)
from support.operator_fixture import RunningOperator
from testenv.controlplane import ControlPlane


def test_a_killed_rank_restarts_the_gang_which_resumes_from_its_checkpoint(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    data = write_token_corpus(tmp_path / "data").parent
    submit(control_plane, namespace, tiny_trainer_job("resume", data, tmp_path / "ckpt", steps=400))
    before = wait_for_status(
        control_plane, namespace, "resume",
        running_with_checkpoint(40),
        "a checkpoint at step 40 or later",
    )  # fmt: skip
    first_uids = {p["metadata"]["uid"] for p in pods(control_plane, namespace, "resume")}
    kill_rank("resume", 1, signal.SIGKILL)

    seen: list[dict[str, Any]] = []
    final = wait_for_status(
        control_plane, namespace, "resume", phase_is("Succeeded", "Failed"), "the job to end", seen=seen
    )
    assert final["phase"] == "Succeeded", final
    assert (final["restarts"], final["attempt"]) == (1, 2)
    assert final["failure"]["rank"] == 1, "the last failure names the rank that died"
    assert "Restarting" in [st.get("phase") for st in seen]
    steps_after_restart = [
        st["progress"]["step"]
        for st in seen
        if st.get("attempt") == 2 and st.get("phase") == "Running" and st.get("progress")
    ]
    assert steps_after_restart, "progress is reported during the second attempt"
    assert min(steps_after_restart) >= before["checkpoint"]["step"], "the trainer resumed instead of starting over"
    second = pods(control_plane, namespace, "resume")
    assert {p["metadata"]["labels"]["llmtrain.dev/attempt"] for p in second} == {"2"}
    assert not first_uids & {p["metadata"]["uid"] for p in second}
    logs = control_plane.kubectl("-n", namespace, "logs", "resume-node-0").stdout
    assert "resum" in logs.lower(), logs[-2000:]


def test_a_job_whose_every_attempt_fails_ends_with_backoff_limit_exceeded(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str
) -> None:
    job = command_job("flaky", shell('if [ "$PET_NODE_RANK" = 1 ]; then echo "disk on fire" >&2; exit 3; fi; sleep 30'))
    job["spec"]["runPolicy"] = {"backoffLimit": 1}
    submit(control_plane, namespace, job)
    final = wait_for_status(control_plane, namespace, "flaky", phase_is("Failed", "Succeeded"), "the job to fail")
    failure = final["failure"]
    assert final["phase"] == "Failed" and final["restarts"] == 1
    assert (failure["reason"], failure["rank"], failure["pod"], failure["exitCode"]) == (
        "BackoffLimitExceeded", 1, "flaky-node-1", 1,
    )  # fmt: skip
    assert "backoffLimit 1" in failure["message"]
    conditions = {c["type"]: c for c in final["conditions"]}
    assert conditions["Failed"]["reason"] == "BackoffLimitExceeded"
    events = control_plane.kubectl(
        "-n",
        namespace,
        "get",
        "events",
        "--field-selector",
        "involvedObject.kind=LLMTrainingJob,involvedObject.name=flaky",
    ).stdout
    assert "RestartingGang" in events and "BackoffLimitExceeded" in events


def test_exit_code_policy_fails_at_once_on_a_program_error(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str
) -> None:
    job = command_job("permanent", shell("exit 4"), runPolicy={"restartPolicy": "ExitCode", "backoffLimit": 5})
    submit(control_plane, namespace, job)
    final = wait_for_status(control_plane, namespace, "permanent", phase_is("Failed", "Succeeded"), "the job to fail")
    assert final["phase"] == "Failed" and final["restarts"] == 0 and final["failure"]["exitCode"] == 1


def test_exit_code_policy_retries_a_killed_node(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str
) -> None:
    job = command_job("killed", shell("sleep 60"), runPolicy={"restartPolicy": "ExitCode", "backoffLimit": 5})
    submit(control_plane, namespace, job)
    wait_for_status(control_plane, namespace, "killed", phase_is("Running"), "the gang to run")
    kill_rank("killed", 0, signal.SIGKILL)
    restarted = wait_for_status(
        control_plane, namespace, "killed", lambda st: st.get("attempt") == 2 and st.get("phase") == "Running",
        "the second attempt",
    )  # fmt: skip
    assert restarted["restarts"] == 1 and restarted["failure"]["exitCode"] == 137
