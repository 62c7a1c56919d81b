"""Run policies and scheduling: suspend, deadline, TTL, PodGroups, unschedulable pods,
and an operator restart in the middle of a job."""

from __future__ import annotations

import json
import time

import pytest
from job_helpers import command_job, get_job, patch_spec, phase_is, pod_processes, pods, shell, submit, wait_for_status
from operator_fixture import RunningOperator

from testenv.controlplane import ControlPlane
from testenv.netutil import wait_until

SLEEP = shell("sleep 120")


def test_suspend_stops_the_pods_and_resume_starts_a_new_attempt(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str
) -> None:
    submit(control_plane, namespace, command_job("pause", SLEEP))
    wait_for_status(control_plane, namespace, "pause", phase_is("Running"), "the gang to run")
    assert pod_processes("pause", 0)
    patch_spec(control_plane, namespace, "pause", {"runPolicy": {"suspend": True}})
    wait_for_status(control_plane, namespace, "pause", phase_is("Suspended"), "suspension")
    wait_until(lambda: not pods(control_plane, namespace, "pause"), 60, "the pods to be deleted")
    assert not pod_processes("pause", 0) and not pod_processes("pause", 1)
    patch_spec(control_plane, namespace, "pause", {"runPolicy": {"suspend": False}})
    resumed = wait_for_status(
        control_plane, namespace, "pause", lambda st: st.get("phase") == "Running" and st.get("attempt") == 2, "resumption"
    )
    assert resumed["restarts"] == 0
    assert {c["type"]: c["status"] for c in resumed["conditions"]}["Suspended"] == "False"


def test_the_deadline_fails_a_job_that_runs_too_long(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str
) -> None:
    submit(control_plane, namespace, command_job("late", SLEEP, runPolicy={"activeDeadlineSeconds": 8}))
    final = wait_for_status(control_plane, namespace, "late", phase_is("Failed"), "the deadline")
    assert final["failure"]["reason"] == "DeadlineExceeded"
    wait_until(lambda: not pods(control_plane, namespace, "late"), 60, "cleanPodPolicy Running to delete the pods")


def test_ttl_deletes_a_finished_job_and_its_children(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str
) -> None:
    submit(control_plane, namespace, command_job("brief", shell("true"), runPolicy={"ttlSecondsAfterFinished": 2}))
    wait_for_status(control_plane, namespace, "brief", phase_is("Succeeded"), "success")

    def gone() -> bool:
        listed = control_plane.kubectl("-n", namespace, "get", "ltj,pods,services", "-o", "name").stdout
        return listed.strip() == ""

    wait_until(gone, 60, "the TTL to delete the job, and garbage collection its children")


def test_gang_scheduling_says_when_the_pod_group_api_is_missing_then_uses_it(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str
) -> None:
    job = command_job("gang", SLEEP, scheduling={"gang": {"enabled": True, "timeoutSeconds": 60}})
    submit(control_plane, namespace, job)
    held = wait_for_status(
        control_plane, namespace, "gang",
        lambda st: any(c["reason"] == "PodGroupUnavailable" for c in st.get("conditions", [])),
        "the missing PodGroup API to be reported",
    )  # fmt: skip
    assert held["phase"] == "Pending" and not pods(control_plane, namespace, "gang")
    assert running_operator.process is not None and running_operator.process.poll() is None, "no crash"

    control_plane.kubectl("apply", "-f", "-", input=json.dumps(_pod_group_crd()))
    wait_until(
        lambda: control_plane.kubectl("-n", namespace, "get", "podgroups.scheduling.x-k8s.io", "gang", check=False).returncode == 0,
        60, "the PodGroup",
    )  # fmt: skip
    group = control_plane.kubectl_json("-n", namespace, "get", "podgroups.scheduling.x-k8s.io", "gang")
    assert group["spec"] == {"minMember": 2, "scheduleTimeoutSeconds": 60}  # type: ignore[index]
    wait_until(lambda: len(pods(control_plane, namespace, "gang")) == 2, 60, "the gang's pods")
    for pod in pods(control_plane, namespace, "gang"):
        assert pod["spec"]["schedulerName"] == "scheduler-plugins-scheduler"
        assert pod["metadata"]["labels"]["scheduling.x-k8s.io/pod-group"] == "gang"


def _pod_group_crd() -> dict:
    """A minimal stand-in for the scheduler-plugins PodGroup CRD (its schema kept open)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "podgroups.scheduling.x-k8s.io"},
        "spec": {
            "group": "scheduling.x-k8s.io",
            "scope": "Namespaced",
            "names": {"kind": "PodGroup", "plural": "podgroups", "singular": "podgroup"},
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }


@pytest.mark.parametrize(
    ("spec", "reason_text"),
    [
        ({"resources": {"gpus": 16}}, "Insufficient nvidia.com/gpu"),
        (
            {"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "missing-claim"}}],
             "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
            'persistentvolumeclaim "missing-claim" not found',
        ),
    ],
    ids=["too-many-gpus", "missing-pvc"],
)  # fmt: skip
def test_unschedulable_pods_say_why_without_a_retry_storm(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str, spec: dict, reason_text: str
) -> None:
    submit(control_plane, namespace, command_job("stuck", SLEEP, **spec))
    held = wait_for_status(
        control_plane, namespace, "stuck",
        lambda st: any(c["reason"] == "Unschedulable" for c in st.get("conditions", [])),
        "the scheduler's reason in status",
    )  # fmt: skip
    running = next(c for c in held["conditions"] if c["type"] == "Running")
    assert held["phase"] == "Pending" and reason_text in running["message"]
    uids = {p["metadata"]["uid"] for p in pods(control_plane, namespace, "stuck")}
    time.sleep(5)
    assert {p["metadata"]["uid"] for p in pods(control_plane, namespace, "stuck")} == uids, "no pod was recreated"
    events = control_plane.kubectl_json("-n", namespace, "get", "events", "--field-selector", "involvedObject.kind=LLMTrainingJob,involvedObject.name=stuck,reason=Unschedulable")
    messages = [event["message"] for event in events["items"]]  # type: ignore[index]
    assert len(messages) == 1, f"one event, not one per resync: {messages}"
    assert status_phase(control_plane, namespace) == "Pending"


def status_phase(control_plane: ControlPlane, namespace: str) -> str:
    return str(get_job(control_plane, namespace, "stuck")["status"]["phase"])


def test_restarting_the_operator_mid_job_changes_nothing(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str
) -> None:
    submit(control_plane, namespace, command_job("steady", SLEEP))
    before = wait_for_status(control_plane, namespace, "steady", phase_is("Running"), "the gang to run")
    uids = sorted(p["metadata"]["uid"] for p in pods(control_plane, namespace, "steady"))
    running_operator.restart()
    time.sleep(5)
    after = get_job(control_plane, namespace, "steady")["status"]
    assert sorted(p["metadata"]["uid"] for p in pods(control_plane, namespace, "steady")) == uids
    assert (after["phase"], after["attempt"], after["restarts"]) == ("Running", 1, 0)
    assert after["conditions"] == before["conditions"], "no condition moved"


def test_the_operator_serves_its_metrics(running_operator: RunningOperator) -> None:
    text = running_operator.metrics()
    for name in (
        "llmtrain_operator_jobs{",
        "llmtrain_operator_reconcile_duration_seconds_bucket",
        "llmtrain_operator_pods_created_total",
        "llmtrain_operator_job_restarts_total",
        "llmtrain_operator_jobs_finished_total",
    ):
        assert name in text, name


def test_spec_changes_to_a_running_job_apply_at_the_next_attempt(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str
) -> None:
    submit(control_plane, namespace, command_job("edit", SLEEP, env=[{"name": "NCCL_DEBUG", "value": "WARN"}]))
    wait_for_status(control_plane, namespace, "edit", phase_is("Running"), "the gang to run")
    uids = sorted(p["metadata"]["uid"] for p in pods(control_plane, namespace, "edit"))
    patch_spec(control_plane, namespace, "edit", {"env": [{"name": "NCCL_DEBUG", "value": "INFO"}]})
    time.sleep(3)
    assert sorted(p["metadata"]["uid"] for p in pods(control_plane, namespace, "edit")) == uids, "the running attempt is left alone"
    patch_spec(control_plane, namespace, "edit", {"runPolicy": {"suspend": True}})
    wait_for_status(control_plane, namespace, "edit", phase_is("Suspended"), "suspension")
    patch_spec(control_plane, namespace, "edit", {"runPolicy": {"suspend": False}})
    wait_for_status(control_plane, namespace, "edit", lambda st: st.get("attempt") == 2 and st.get("phase") == "Running", "the next attempt")
    for pod in pods(control_plane, namespace, "edit"):
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        assert env["NCCL_DEBUG"] == "INFO" and env["LLMTRAIN_ATTEMPT"] == "2"
