"""Failures as a real cluster reports them: checkpoints that belong to one job, a damaged
newest checkpoint, reasons read from the termination file, a worker's own exit code and
signal, objects the API server refuses, deletion within the grace period, and progress
across a restart."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path
from typing import Any

from llmtrain.api.contract import MANIFEST_FILE, OWNER_FILE
from llmtrain_trainer.checkpoint import damage, step_dirs
from support.job_helpers import (
    get_job,
    patch_spec,
    phase_is,
    pods,
    running_at_step,
    running_with_checkpoint,
    submit,
    tiny_trainer_job,
    wait_for_status,
    worker_pid,
    write_token_corpus,
)
from support.operator_fixture import RunningOperator
from testenv.controlplane import ControlPlane
from testenv.testing import eventually


def _events(control_plane: ControlPlane, namespace: str, name: str) -> list[dict[str, Any]]:
    listed = control_plane.kubectl_json(
        "-n",
        namespace,
        "get",
        "events",
        "--field-selector",
        f"involvedObject.kind=LLMTrainingJob,involvedObject.name={name}",
    )
    items: list[dict[str, Any]] = listed["items"]  # type: ignore[assignment]
    return items


def _snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in directory.rglob("*")
        if p.is_file()
    }


def _delete(control_plane: ControlPlane, namespace: str, name: str) -> None:
    control_plane.kubectl("-n", namespace, "delete", "ltj", name, "--wait=true", "--timeout=120s")
    eventually(lambda: not pods(control_plane, namespace, name) or None, timeout=120)


def _terminated(pod: dict[str, Any]) -> dict[str, Any]:
    return dict(pod["status"]["containerStatuses"][0]["state"]["terminated"])


def test_two_jobs_on_one_volume_keep_their_own_checkpoints(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    data = write_token_corpus(tmp_path / "data").parent
    shared = tmp_path / "shared"
    for name in ("left", "right"):
        submit(control_plane, namespace, tiny_trainer_job(name, data, shared, steps=40))
    for name in ("left", "right"):
        final = wait_for_status(control_plane, namespace, name, phase_is("Succeeded", "Failed"), f"{name} to end")
        assert final["phase"] == "Succeeded", final
        assert final["checkpoint"]["path"] == f"/checkpoints/{namespace}/{name}/step-00000040"
        own = shared / namespace / name
        uid = get_job(control_plane, namespace, name)["metadata"]["uid"]
        assert json.loads((own / OWNER_FILE).read_text()) == {"namespace": namespace, "name": name, "uid": uid}
        assert [step for step, _ in step_dirs(own)] == [40, 20], "keep: 2 pruned only this job's checkpoints"
        assert all(damage(path) is None for _, path in step_dirs(own))
        log = control_plane.kubectl("-n", namespace, "logs", f"{name}-node-0").stdout
        assert "resumed from" not in log, "neither job picked up the other's checkpoint"


def test_a_recreated_job_refuses_the_old_checkpoints_until_told_to_start_from_them(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    data = write_token_corpus(tmp_path / "data").parent
    volume = tmp_path / "ckpt"
    submit(control_plane, namespace, tiny_trainer_job("again", data, volume, steps=40))
    assert (
        wait_for_status(control_plane, namespace, "again", phase_is("Succeeded", "Failed"), "the first job")["phase"]
        == "Succeeded"
    )
    old = volume / namespace / "again"
    before = _snapshot(old)
    _delete(control_plane, namespace, "again")

    submit(control_plane, namespace, tiny_trainer_job("again", data, volume, steps=60))
    final = wait_for_status(control_plane, namespace, "again", phase_is("Failed", "Succeeded"), "the new job to fail")
    failure = final["failure"]
    assert final["phase"] == "Failed" and final["restarts"] == 0, "no retry can give the job its own directory"
    assert failure["reason"] == "CheckpointOwnedByAnotherJob"
    assert f"holds the checkpoints of job {namespace}/again (uid " in failure["message"]
    assert "resumeFrom" in failure["message"]
    warnings = [e for e in _events(control_plane, namespace, "again") if e["type"] == "Warning"]
    assert [e["reason"] for e in warnings] == ["Failed"]
    # Every rank refuses alike; whichever the kubelet reported first is named.
    assert re.match(
        r"CheckpointOwnedByAnotherJob on rank (\d) \(again-node-\1\), exit code 1: rank \1: /checkpoints/",
        warnings[0]["message"],
    ), warnings[0]["message"]
    assert _snapshot(old) == before, "the other job's checkpoints were neither loaded into nor pruned"

    continued = tiny_trainer_job("continued", data, volume, steps=60)
    continued["spec"]["trainer"]["checkpoint"]["resumeFrom"] = f"/checkpoints/{namespace}/again"
    submit(control_plane, namespace, continued)
    final = wait_for_status(control_plane, namespace, "continued", phase_is("Succeeded", "Failed"), "the continuation")
    assert final["phase"] == "Succeeded", final
    log = control_plane.kubectl("-n", namespace, "logs", "continued-node-0").stdout
    assert f"resumed from /checkpoints/{namespace}/again/step-00000040 at step 40" in log
    assert [step for step, _ in step_dirs(volume / namespace / "continued")] == [60]
    assert _snapshot(old) == before, "resumeFrom only reads"


def test_a_truncated_newest_checkpoint_resumes_from_the_one_before(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    data = write_token_corpus(tmp_path / "data").parent
    submit(control_plane, namespace, tiny_trainer_job("damaged", data, tmp_path / "ckpt", steps=400))
    wait_for_status(
        control_plane,
        namespace,
        "damaged",
        running_with_checkpoint(40),
        "a checkpoint at step 40 or later",
    )
    patch_spec(control_plane, namespace, "damaged", {"runPolicy": {"suspend": True}})
    wait_for_status(control_plane, namespace, "damaged", phase_is("Suspended"), "the job to suspend")
    eventually(lambda: not pods(control_plane, namespace, "damaged") or None, timeout=120)

    (newest_step, newest), (previous_step, _) = step_dirs(tmp_path / "ckpt" / namespace / "damaged")[:2]
    shard = sorted(newest.glob("*.distcp"))[0]
    shard.write_bytes(shard.read_bytes()[:10])
    patch_spec(control_plane, namespace, "damaged", {"runPolicy": {"suspend": False}})
    final = wait_for_status(
        control_plane, namespace, "damaged", phase_is("Succeeded", "Failed"), "the job to end", timeout=300
    )
    assert final["phase"] == "Succeeded" and final["restarts"] == 0, final
    log = control_plane.kubectl("-n", namespace, "logs", "damaged-node-0").stdout
    assert f"skipping checkpoint /checkpoints/{namespace}/damaged/{newest.name}: {shard.name} has 10 bytes" in log
    assert f"at step {previous_step} " in log and newest_step > previous_step


def test_an_invalid_config_fails_once_with_the_reason_from_the_termination_file(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    submit(control_plane, namespace, tiny_trainer_job("badconfig", tmp_path / "nowhere", tmp_path / "ckpt", steps=10))
    final = wait_for_status(control_plane, namespace, "badconfig", phase_is("Failed", "Succeeded"), "the job to fail")
    assert final["phase"] == "Failed" and final["restarts"] == 0, "a rejected config is not retried"
    # The whole message is the report the launcher wrote to /dev/termination-log: with the
    # file present the kubelet never falls back to the log, whose tail holds more lines.
    failure = final["failure"]
    rank = failure["rank"]  # every rank refuses alike; the first the kubelet reported is named
    expected = (
        f"llmtrain-trainer: InvalidConfig: rank {rank}: data.paths: {tmp_path / 'nowhere'}/tokens.bin matches no file"
    )
    assert (failure["reason"], failure["message"], failure["exitCode"]) == ("InvalidConfig", expected, 1)
    conditions = {c["type"]: c for c in final["conditions"]}
    assert conditions["Failed"]["message"] == expected and conditions["Failed"]["reason"] == "InvalidConfig"
    failed_pod = next(p for p in pods(control_plane, namespace, "badconfig") if p["metadata"]["name"] == failure["pod"])
    assert _terminated(failed_pod)["message"] == expected


def test_a_tokenizer_that_does_not_parse_fails_once_naming_the_field(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    data = tmp_path / "text"
    data.mkdir()
    (data / "corpus.txt").write_text("the cat sat on the mat\n" * 500)
    (data / "tokenizer.json").write_text("<html>not a tokenizer</html>")
    job = tiny_trainer_job("badtok", data, tmp_path / "ckpt", steps=10)
    job["spec"]["trainer"]["data"].update(
        paths=[f"{data}/corpus.txt"], format="text", tokenizer=f"{data}/tokenizer.json"
    )
    submit(control_plane, namespace, job)
    final = wait_for_status(control_plane, namespace, "badtok", phase_is("Failed", "Succeeded"), "the job to fail")
    assert final["phase"] == "Failed" and final["restarts"] == 0
    assert final["failure"]["reason"] == "InvalidConfig"
    assert f"data.tokenizer: {data}/tokenizer.json is not a tokenizer.json" in final["failure"]["message"]


def test_a_worker_killed_by_sigkill_counts_as_137_and_restarts_from_the_checkpoint(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    data = write_token_corpus(tmp_path / "data").parent
    job = tiny_trainer_job("oom", data, tmp_path / "ckpt", steps=400)
    job["spec"]["runPolicy"] = {"restartPolicy": "ExitCode", "backoffLimit": 2}
    submit(control_plane, namespace, job)
    before = wait_for_status(
        control_plane,
        namespace,
        "oom",
        running_with_checkpoint(20),
        "a checkpoint",
    )
    saved = before["checkpoint"]["step"]
    # What the kernel's OOM killer does: SIGKILL to the training process, not to torchrun.
    os.kill(worker_pid("oom", 1), signal.SIGKILL)
    seen: list[dict[str, Any]] = []
    restarted = wait_for_status(
        control_plane,
        namespace,
        "oom",
        lambda st: st.get("attempt") == 2 and st.get("phase") == "Running",
        "the second attempt",
        seen=seen,
    )
    failure = restarted["failure"]
    assert (failure["reason"], failure["exitCode"], failure["rank"]) == ("WorkerKilled", 137, 1)
    assert failure["message"] == (
        "llmtrain-trainer: WorkerKilled: rank 1 was killed by SIGKILL, probably out of memory "
        "(the kernel's OOM killer sends SIGKILL)"
    )
    # While the next attempt starts, progress says where it resumes instead of the old figures.
    resuming = [st["progress"] for st in seen if (st.get("progress") or {}).get("resumingFrom") is not None]
    assert resuming, "progress announced the restart"
    assert all(p["resumingFrom"] >= saved and p.get("loss") is None for p in resuming)
    _delete(control_plane, namespace, "oom")


def test_a_pod_the_api_server_refuses_fails_the_job_with_its_message(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    job = tiny_trainer_job("refused", tmp_path, tmp_path / "ckpt", steps=10)
    # Valid for the CRD, refused by pod validation: two mounts at one path.
    job["spec"]["volumes"] = [{"name": "scratch", "emptyDir": {}}]
    job["spec"]["volumeMounts"] = [{"name": "scratch", "mountPath": "/dev/shm"}]
    submit(control_plane, namespace, job)
    final = wait_for_status(control_plane, namespace, "refused", phase_is("Failed", "Succeeded"), "the job to fail")
    assert final["phase"] == "Failed" and final["failure"]["reason"] == "FailedCreate"
    assert "mountPath" in final["failure"]["message"] and "must be unique" in final["failure"]["message"]
    assert [e["reason"] for e in _events(control_plane, namespace, "refused") if e["type"] == "Warning"] == [
        "FailedCreate"
    ]
    assert pods(control_plane, namespace, "refused") == []


def test_a_quota_that_refuses_pods_holds_the_job_until_it_is_lifted(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "no-pods"},
        "spec": {"hard": {"pods": "0"}},
    }
    control_plane.kubectl("-n", namespace, "create", "-f", "-", input=json.dumps(quota))
    data = write_token_corpus(tmp_path / "data").parent
    submit(control_plane, namespace, tiny_trainer_job("quota", data, tmp_path / "ckpt", steps=10))
    held = wait_for_status(
        control_plane,
        namespace,
        "quota",
        lambda st: any(c["reason"] == "FailedCreate" for c in st.get("conditions") or []),
        "the refusal in a condition",
    )
    created = next(c for c in held["conditions"] if c["type"] == "Created")
    assert created["status"] == "False" and "quota" in created["message"], created
    assert held["phase"] == "Pending"
    control_plane.kubectl("-n", namespace, "delete", "resourcequota", "no-pods")
    final = wait_for_status(
        control_plane, namespace, "quota", phase_is("Succeeded", "Failed"), "the job to end", timeout=300
    )
    assert final["phase"] == "Succeeded", final


def test_deleting_a_running_job_saves_a_whole_checkpoint_within_the_grace_period(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    data = write_token_corpus(tmp_path / "data").parent
    job = tiny_trainer_job("deleted", data, tmp_path / "ckpt", steps=100_000)
    job["spec"]["trainer"]["checkpoint"]["interval"] = 100_000
    job["spec"]["runPolicy"]["terminationGracePeriodSeconds"] = 90
    submit(control_plane, namespace, job)
    wait_for_status(
        control_plane,
        namespace,
        "deleted",
        running_at_step(5),
        "training to run",
    )
    assert {p["spec"]["terminationGracePeriodSeconds"] for p in pods(control_plane, namespace, "deleted")} == {90}
    _delete(control_plane, namespace, "deleted")
    saved = step_dirs(tmp_path / "ckpt" / namespace / "deleted")
    assert len(saved) == 1, f"the SIGTERM checkpoint, and only it: {saved}"
    assert damage(saved[0][1]) is None and (saved[0][1] / MANIFEST_FILE).is_file()
