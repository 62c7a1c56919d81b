"""The node agent keeps its Nodes Ready as the kubelet does: after the node lifecycle
controller marked a node Ready=Unknown (its lease went stale while the agent was starved),
the agent's status reports make it Ready=True again."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from testenv import ControlPlane, NodeAgent, NodeAgentSettings, NodeSpec
from testenv.agent.nodes import LATE_RENEWAL_SECONDS, LEASE_DURATION_SECONDS
from testenv.kubeapi import KubeAPI, Obj
from testenv.testing import eventually

LABEL = "testenv.llmtrain.dev/node-status"
# Nothing of the other tests is scheduled onto these nodes.
TAINT = {"key": LABEL, "value": "true", "effect": "NoSchedule"}
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"

StartAgent = Callable[[str, list[str], NodeAgentSettings], NodeAgent]


@pytest.fixture
def start_agent(control_plane: ControlPlane) -> Iterator[StartAgent]:
    """Starts simulate-mode agents (no pods to run) with nodes of their own; stops them and
    deletes their nodes afterwards."""
    agents: list[NodeAgent] = []

    def start(name: str, nodes: list[str], settings: NodeAgentSettings) -> NodeAgent:
        specs = [NodeSpec(node, gpus=0, labels={LABEL: "true"}, taints=[TAINT]) for node in nodes]
        agent = NodeAgent(control_plane, specs, settings=settings, name=name)
        agents.append(agent)
        return agent.start()

    try:
        yield start
    finally:
        for agent in agents:
            agent.stop()
        control_plane.kubectl("delete", "nodes", "-l", f"{LABEL}=true", "--wait=false")


def settings(status_report_seconds: float) -> NodeAgentSettings:
    return NodeAgentSettings(
        mode="simulate",
        pod_ip_prefix="127.201",
        heartbeat_seconds=1.0,
        status_report_seconds=status_report_seconds,
    )


def condition(node: Obj, kind: str) -> Obj:
    found: Obj = next(c for c in node["status"]["conditions"] if c["type"] == kind)
    return found


def ready(api: KubeAPI, name: str) -> Obj:
    return condition(api.get(f"/api/v1/nodes/{name}"), "Ready")


def mark_unknown(api: KubeAPI, name: str) -> Obj:
    """What the node lifecycle controller does to a node whose lease and status went stale:
    every condition Unknown, the heartbeat times left as they were. Returns the node as the
    API server stored it."""
    node = api.get(f"/api/v1/nodes/{name}")
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    conditions = [
        {**c, "status": "Unknown", "reason": "NodeStatusUnknown",
         "message": "Kubelet stopped posting node status.", "lastTransitionTime": stamp}
        for c in node["status"]["conditions"]
    ]  # fmt: skip
    return api.merge_patch(f"/api/v1/nodes/{name}/status", {"status": {"conditions": conditions}})


def ready_again(api: KubeAPI, name: str) -> Obj:
    return eventually(
        lambda: c if (c := ready(api, name))["status"] == "True" else None,
        timeout=60,
        interval=0.5,
        what=f"the agent to report {name} Ready again",
    )


def test_a_node_marked_unknown_is_reported_ready_again(start_agent: StartAgent, control_plane: ControlPlane) -> None:
    agent = start_agent("node-status-agent", ["status-gone", "status-0"], settings(status_report_seconds=2))
    api = KubeAPI(control_plane.kubeconfig_path)
    # One of the agent's nodes fails from now on (Lease and Node deleted; the agent does not
    # re-register, nor does the kubelet): the other must be kept Ready all the same.
    api.delete(f"{LEASES}/status-gone")
    api.delete("/api/v1/nodes/status-gone")
    eventually(
        lambda: "heartbeat of status-gone failed" in agent.log.read_text(),
        what="the agent to fail renewing the deleted node's lease",
    )
    assert ready(api, "status-0")["status"] == "True"

    unknown = condition(mark_unknown(api, "status-0"), "Ready")
    # As stored, before the agent answered: a Ready=True later is the agent's doing.
    assert (unknown["status"], unknown["reason"]) == ("Unknown", "NodeStatusUnknown")

    recovered = ready_again(api, "status-0")
    assert recovered["reason"] == "KubeletReady"
    assert recovered["lastTransitionTime"] >= unknown["lastTransitionTime"]  # a transition from Unknown
    # The next report leaves the time of that transition as it is: nothing changed since.
    later = eventually(
        lambda: c if (c := ready(api, "status-0"))["lastHeartbeatTime"] > recovered["lastHeartbeatTime"] else None,
        what="a later status report of status-0",
    )
    assert (later["status"], later["lastTransitionTime"]) == ("True", recovered["lastTransitionTime"])


def test_a_starved_agent_reports_status_as_soon_as_it_runs_again(
    start_agent: StartAgent, control_plane: ControlPlane
) -> None:
    # No periodic report during the test: only the late renewal can make it report.
    agent = start_agent("starved-agent", ["status-starved"], settings(status_report_seconds=3600))
    api = KubeAPI(control_plane.kubeconfig_path)
    assert agent._proc is not None  # NodeAgent does not expose its process; this test started it
    pid = agent._proc.pid

    def lease_age() -> float:
        renewed = api.get(f"{LEASES}/status-starved")["spec"]["renewTime"]
        return (datetime.now(UTC) - datetime.fromisoformat(renewed)).total_seconds()

    os.kill(pid, signal.SIGSTOP)  # starved: not one of its threads runs
    try:
        eventually(
            lambda: lease_age() > LATE_RENEWAL_SECONDS,
            timeout=LEASE_DURATION_SECONDS * 2,
            interval=1,
            what="the stopped agent's lease to go without renewal for over half its duration",
        )
        unknown = condition(mark_unknown(api, "status-starved"), "Ready")
        assert unknown["status"] == "Unknown"
    finally:
        os.kill(pid, signal.SIGCONT)

    recovered = ready_again(api, "status-starved")
    assert recovered["reason"] == "KubeletReady"
    assert "lease of status-starved renewed" in agent.log.read_text()
