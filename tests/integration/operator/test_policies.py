"""Run policies and scheduling: suspend, deadline, TTL, PodGroups, unschedulable pods,
an operator restart in the middle of a job, and the operator's own metrics.

A test that asserts that nothing changed first waits for the operator to have reconciled
every job again (`wait_for_reconciles`, from its /metrics), so that the assertion is not
merely checked before the operator acted."""

from __future__ import annotations

import json
from typing import Any, cast, get_args

import pytest

from llmtrain.api.status import Phase
from support.job_helpers import (
    command_job,
    get_job,
    patch_spec,
    phase_is,
    pod_processes,
    pods,
    shell,
    submit,
    wait_for_status,
)
from support.operator_fixture import RunningOperator, wait_for_reconciles
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
        control_plane,
        namespace,
        "pause",
        lambda st: st.get("phase") == "Running" and st.get("attempt") == 2,
        "resumption",
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
        lambda: control_plane.kubectl(
            "-n", namespace, "get", "podgroups.scheduling.x-k8s.io", "gang", check=False
        ).returncode == 0,
        60, "the PodGroup",
    )  # fmt: skip
    group = control_plane.kubectl_json("-n", namespace, "get", "podgroups.scheduling.x-k8s.io", "gang")
    assert group["spec"] == {"minMember": 2, "scheduleTimeoutSeconds": 60}
    wait_until(lambda: len(pods(control_plane, namespace, "gang")) == 2, 60, "the gang's pods")
    for pod in pods(control_plane, namespace, "gang"):
        assert pod["spec"]["schedulerName"] == "scheduler-plugins-scheduler"
        assert pod["metadata"]["labels"]["scheduling.x-k8s.io/pod-group"] == "gang"


def _pod_group_crd() -> dict[str, Any]:
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
    running_operator: RunningOperator,
    control_plane: ControlPlane,
    namespace: str,
    spec: dict[str, Any],
    reason_text: str,
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
    wait_for_reconciles(running_operator, control_plane, since=running_operator.reconciles())
    assert {p["metadata"]["uid"] for p in pods(control_plane, namespace, "stuck")} == uids, "no pod was recreated"
    events = control_plane.kubectl_json(
        "-n",
        namespace,
        "get",
        "events",
        "--field-selector",
        "involvedObject.kind=LLMTrainingJob,involvedObject.name=stuck,reason=Unschedulable",
    )
    messages = [event["message"] for event in cast(list[dict[str, Any]], events["items"])]
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
    # The new process counts from 0: it has reconciled every job, this one too, more than once.
    wait_for_reconciles(running_operator, control_plane, since=0)
    after = get_job(control_plane, namespace, "steady")["status"]
    assert sorted(p["metadata"]["uid"] for p in pods(control_plane, namespace, "steady")) == uids
    assert (after["phase"], after["attempt"], after["restarts"]) == ("Running", 1, 0)
    assert after["conditions"] == before["conditions"], "no condition moved"


PHASES: tuple[str, ...] = get_args(Phase)
COUNTERS = {
    "pods created": ("llmtrain_operator_pods_created_total", {}),
    "gang restarts": ("llmtrain_operator_job_restarts_total", {}),
    "jobs succeeded": ("llmtrain_operator_jobs_finished_total", {"result": "Succeeded"}),
    "jobs failed": ("llmtrain_operator_jobs_finished_total", {"result": "Failed"}),
}


def _counters(operator: RunningOperator) -> dict[str, float]:
    return {key: operator.sample(name, **labels) for key, (name, labels) in COUNTERS.items()}


def test_the_operator_metrics_count_what_it_did(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str
) -> None:
    # The counters are the operator's, over every job: start once only this test's jobs exist.
    def only_this_tests_jobs() -> bool:
        namespaces = "jsonpath={.items[*].metadata.namespace}"
        listed = control_plane.kubectl("get", "ltj", "--all-namespaces", "-o", namespaces).stdout.split()
        return all(ns == namespace for ns in listed)

    wait_until(only_this_tests_jobs, 120, "the jobs of earlier tests to be deleted")
    before, reconciles = _counters(running_operator), running_operator.reconciles()

    submit(control_plane, namespace, command_job("done", shell("true"), nodes=1))
    # One pod per attempt: the first fails, the restart fails too, and backoffLimit 1 ends it.
    submit(control_plane, namespace, command_job("flaky", shell("exit 3"), nodes=1, runPolicy={"backoffLimit": 1}))
    done = wait_for_status(control_plane, namespace, "done", phase_is("Succeeded", "Failed"), "done to end")
    flaky = wait_for_status(control_plane, namespace, "flaky", phase_is("Succeeded", "Failed"), "flaky to end")
    assert (done["phase"], flaky["phase"], flaky["restarts"]) == ("Succeeded", "Failed", 1), (done, flaky)

    after = _counters(running_operator)
    assert {key: after[key] - before[key] for key in COUNTERS} == {
        "pods created": 3, "gang restarts": 1, "jobs succeeded": 1, "jobs failed": 1,
    }  # fmt: skip
    assert running_operator.reconciles() > reconciles

    # The jobs gauge holds the phases of every job as of the last resync: these two.
    def jobs_by_phase() -> dict[str, float]:
        return {phase: running_operator.sample("llmtrain_operator_jobs", phase=phase) for phase in PHASES}

    wait_until(
        lambda: jobs_by_phase() == {**dict.fromkeys(PHASES, 0.0), "Succeeded": 1.0, "Failed": 1.0},
        30, "the jobs gauge to count one job succeeded and one failed",
    )  # fmt: skip


def test_spec_changes_to_a_running_job_apply_at_the_next_attempt(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str
) -> None:
    submit(control_plane, namespace, command_job("edit", SLEEP, env=[{"name": "NCCL_DEBUG", "value": "WARN"}]))
    wait_for_status(control_plane, namespace, "edit", phase_is("Running"), "the gang to run")
    uids = sorted(p["metadata"]["uid"] for p in pods(control_plane, namespace, "edit"))
    since = running_operator.reconciles()
    patch_spec(control_plane, namespace, "edit", {"env": [{"name": "NCCL_DEBUG", "value": "INFO"}]})
    wait_for_reconciles(running_operator, control_plane, since)
    assert sorted(p["metadata"]["uid"] for p in pods(control_plane, namespace, "edit")) == uids, (
        "the running attempt is left alone"
    )
    patch_spec(control_plane, namespace, "edit", {"runPolicy": {"suspend": True}})
    wait_for_status(control_plane, namespace, "edit", phase_is("Suspended"), "suspension")
    patch_spec(control_plane, namespace, "edit", {"runPolicy": {"suspend": False}})
    wait_for_status(
        control_plane,
        namespace,
        "edit",
        lambda st: st.get("attempt") == 2 and st.get("phase") == "Running",
        "the next attempt",
    )
    for pod in pods(control_plane, namespace, "edit"):
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        assert env["NCCL_DEBUG"] == "INFO" and env["LLMTRAIN_ATTEMPT"] == "2"
