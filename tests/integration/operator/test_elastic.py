"""Elastic jobs: changing `nodes` within [minNodes, maxNodes] scales the running attempt,
and real torchrun agents re-form the gang through the c10d rendezvous."""

from __future__ import annotations

from support.job_helpers import command_job, patch_spec, phase_is, pods, shell, submit, wait_for_status
from support.operator_fixture import RunningOperator
from testenv.controlplane import ControlPlane
from testenv.netutil import wait_until

# Every worker says how large its gang is, then waits to be stopped or re-formed.
REPORT_WORLD_SIZE = shell('echo "world size $WORLD_SIZE"; exec sleep 300')


def _uids(control_plane: ControlPlane, namespace: str) -> dict[str, str]:
    return {
        p["metadata"]["name"]: p["metadata"]["uid"]
        for p in pods(control_plane, namespace, "grow")
        if not p["metadata"].get("deletionTimestamp")
    }


def test_an_elastic_job_scales_within_its_bounds_without_a_new_attempt(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str
) -> None:
    job = command_job("grow", REPORT_WORLD_SIZE, nodes=1, elastic={"minNodes": 1, "maxNodes": 2})
    submit(control_plane, namespace, job)
    wait_for_status(control_plane, namespace, "grow", phase_is("Running"), "the first node to run")
    # Until rank 0's container has started, kubectl logs fails and says so: read that as no output.
    rank0_logs = lambda: control_plane.kubectl("-n", namespace, "logs", "grow-node-0", check=False).stdout  # noqa: E731
    wait_until(lambda: "world size 1" in rank0_logs(), 120, "rank 0 to start alone")
    first = _uids(control_plane, namespace)
    assert list(first) == ["grow-node-0"]

    patch_spec(control_plane, namespace, "grow", {"nodes": 2})
    grown = wait_for_status(
        control_plane, namespace, "grow",
        lambda st: st.get("phase") == "Running" and st.get("nodes", {}).get("ready") == 2,
        "the second node to run",
    )  # fmt: skip
    assert (grown["attempt"], grown["restarts"]) == (1, 0), "scaling is not a gang restart"
    assert _uids(control_plane, namespace)["grow-node-0"] == first["grow-node-0"], "rank 0 kept its pod"
    wait_until(lambda: "world size 2" in rank0_logs(), 180, "torchrun on rank 0 to re-form the gang with the new node")

    patch_spec(control_plane, namespace, "grow", {"nodes": 1})
    wait_until(lambda: list(_uids(control_plane, namespace)) == ["grow-node-0"], 60, "the second node's pod to go")
    shrunk = wait_for_status(
        control_plane, namespace, "grow",
        lambda st: (st.get("nodes", {}).get("desired"), st.get("nodes", {}).get("ready")) == (1, 1),
        "the status to count one node",
    )  # fmt: skip
    assert (shrunk["phase"], shrunk["attempt"], shrunk["restarts"]) == ("Running", 1, 0), shrunk.get("failure")
    assert _uids(control_plane, namespace)["grow-node-0"] == first["grow-node-0"]
