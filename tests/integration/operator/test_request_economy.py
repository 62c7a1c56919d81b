"""The operator does each piece of work once, as the API server's audit log shows it: a job's
life costs one create per child, never a create answered 409, never a GET of the job (it is
read from the watch's cache), and a status write only when the status changed."""

from __future__ import annotations

from collections import Counter

from support.chart_rbac import service_account_name
from support.job_helpers import command_job, phase_is, shell, submit, wait_for_status
from support.operator_fixture import OPERATOR_NAMESPACE, RunningOperator, wait_for_reconciles
from testenv.controlplane import ControlPlane

NODES = 4
STATUS_WRITES_LIMIT = 8
"""Pending, pods seen, Starting, Running, Succeeded, and a few node counts in between."""


def test_a_job_costs_one_request_per_child_and_no_read_of_the_job(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str
) -> None:
    since = control_plane.audit_mark()
    submit(control_plane, namespace, command_job("frugal", shell("sleep 3"), nodes=NODES))
    final = wait_for_status(control_plane, namespace, "frugal", phase_is("Succeeded", "Failed"), "the job to end")
    assert final["phase"] == "Succeeded", final
    # Resync passes after the end: any request they would make is in the log before it is read.
    wait_for_reconciles(running_operator, control_plane, since=running_operator.reconciles())

    user = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{service_account_name()}"
    requests: Counter[tuple[str, str, int]] = Counter()
    for event in control_plane.audit_events(since):
        ref = event.get("objectRef") or {}
        if event["user"]["username"] != user or ref.get("namespace") != namespace or ref.get("resource") == "events":
            continue
        resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        requests[(event["verb"], resource, event["responseStatus"]["code"])] += 1

    assert not [r for r in requests if r[0] == "get"], (
        f"the job or a child was read, not taken from the cache: {requests}"
    )
    assert not [r for r in requests if r[2] == 409], f"something was created twice: {requests}"
    assert requests[("create", "pods", 201)] == NODES, requests
    assert requests[("create", "services", 201)] == 1, requests
    status_writes = requests[("patch", "llmtrainingjobs/status", 200)]
    assert 3 <= status_writes <= STATUS_WRITES_LIMIT, f"{status_writes} status writes: {requests}"
    assert sum(requests.values()) == NODES + 1 + status_writes, f"unexpected requests: {requests}"
