"""A tiny training job from creation to success, run by the real operator, node agent
and trainer: status, progress, children and clean-up."""

from __future__ import annotations

from pathlib import Path

from support.job_helpers import get_job, phase_is, pods, submit, tiny_trainer_job, wait_for_status, write_token_corpus
from support.operator_fixture import RunningOperator
from testenv.controlplane import ControlPlane


def test_tiny_job_runs_to_success_with_progress(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    data = write_token_corpus(tmp_path / "data").parent
    submit(control_plane, namespace, tiny_trainer_job("tiny", data, tmp_path / "ckpt", steps=300))
    seen: list[dict] = []
    final = wait_for_status(
        control_plane, namespace, "tiny", phase_is("Succeeded", "Failed"), "the job to end", seen=seen
    )
    assert final["phase"] == "Succeeded", final

    assert "Running" in [st.get("phase") for st in seen]
    running_progress = [st["progress"]["step"] for st in seen if st.get("phase") == "Running" and st.get("progress")]
    assert running_progress and min(running_progress) > 0, "progress appears in status while the job runs"
    assert running_progress == sorted(running_progress)
    assert final["progress"]["totalSteps"] == 300 and final["progress"]["loss"] > 0
    checkpoint = final["checkpoint"]
    assert checkpoint["step"] >= 20
    assert checkpoint["path"] == f"/checkpoints/{namespace}/tiny/step-{checkpoint['step']:08d}"
    on_host = tmp_path / "ckpt" / namespace / "tiny" / f"step-{checkpoint['step']:08d}"
    assert on_host.is_dir(), "the path is the pod's view of the volume"
    assert final["nodes"] == {"desired": 2, "active": 0, "ready": 0, "succeeded": 2, "failed": 0}
    conditions = {c["type"]: c for c in final["conditions"]}
    assert conditions["Succeeded"]["status"] == "True" and conditions["Running"]["status"] == "False"
    assert final["startTime"] <= final["completionTime"]

    # cleanPodPolicy Running: the finished pods stay for their logs.
    job = get_job(control_plane, namespace, "tiny")
    remaining = pods(control_plane, namespace, "tiny")
    assert sorted(p["metadata"]["name"] for p in remaining) == ["tiny-node-0", "tiny-node-1"]
    for child in remaining:
        assert child["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
        assert child["status"]["phase"] == "Succeeded"
    service = control_plane.kubectl_json("-n", namespace, "get", "service", "tiny")
    assert service["spec"]["clusterIP"] == "None"  # type: ignore[index]
    events = control_plane.kubectl_json(
        "-n", namespace, "get", "events", "--field-selector",
        "involvedObject.kind=LLMTrainingJob,involvedObject.name=tiny", "--sort-by=.metadata.creationTimestamp"
    )  # fmt: skip
    # A straggler on this shared machine is a real measurement, not a transition.
    everything = [event["reason"] for event in events["items"]]  # type: ignore[index]
    reasons = [reason for reason in everything if not reason.startswith("Straggler")]
    # Timestamps have whole seconds, so the count is checked, not the order.
    assert sorted(reasons) == ["Created", "Running", "Succeeded"], (
        "one event per transition: Pending -> Running -> Succeeded"
    )
    printed = control_plane.kubectl("-n", namespace, "get", "ltj").stdout.split()
    assert printed[:5] == ["NAME", "PHASE", "NODES", "STEP", "LOSS"] and "Succeeded" in printed and "300" in printed
