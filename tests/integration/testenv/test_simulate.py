"""Simulate mode walks hundreds of pods on a hundred nodes through their phases."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from testenv import ControlPlane, NodeAgent, NodeAgentSettings, NodeSpec, SimulateSettings
from testenv.pytest_plugin import Kubectl
from testenv.testing import eventually

NODES = 100
PODS = 300
TAINT = {"key": "testenv.llmtrain.dev/simulated", "value": "true", "effect": "NoSchedule"}


@pytest.fixture
def simulated(control_plane: ControlPlane) -> Iterator[NodeAgent]:
    nodes = [
        NodeSpec(f"sim-{i:03d}", gpus=8, labels={"testenv.llmtrain.dev/simulated": "true"}, taints=[TAINT])
        for i in range(NODES)
    ]
    settings = NodeAgentSettings(
        mode="simulate", pod_ip_prefix="127.200", simulate=SimulateSettings(start_seconds=0.5, run_seconds=1.0)
    )
    agent = NodeAgent(control_plane, nodes, settings=settings, name="sim-agent").start()
    try:
        yield agent
    finally:
        agent.stop()
        control_plane.kubectl("delete", "nodes", "-l", "testenv.llmtrain.dev/simulated=true", "--wait=false")


def test_hundreds_of_pods_succeed_on_a_hundred_nodes(simulated: NodeAgent, kubectl: Kubectl) -> None:
    def pod(i: int) -> dict[str, object]:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"sim-{i}", "annotations": {"testenv.llmtrain.dev/exit-code": str(int(i == 0))}},
            "spec": {
                "restartPolicy": "Never",
                "nodeSelector": {"testenv.llmtrain.dev/simulated": "true"},
                "tolerations": [{**TAINT, "operator": "Equal"}],
                "containers": [{"name": "main", "image": "x", "resources": {"limits": {"nvidia.com/gpu": "2"}}}],
            },
        }

    began = time.monotonic()
    items = [pod(i) for i in range(PODS)]
    kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}), timeout=120)

    def phases() -> Counter[str] | None:
        listing = json.loads(kubectl("get", "pods", "-o", "json").stdout)["items"]
        counts = Counter(p.get("status", {}).get("phase") for p in listing)
        return counts if counts["Succeeded"] + counts["Failed"] == PODS else None

    counts = eventually(phases, timeout=120, interval=1)
    elapsed = time.monotonic() - began
    assert counts == Counter({"Succeeded": PODS - 1, "Failed": 1})
    nodes_used = {p["spec"]["nodeName"] for p in json.loads(kubectl("get", "pods", "-o", "json").stdout)["items"]}
    assert all(name.startswith("sim-") for name in nodes_used) and len(nodes_used) > 10
    print(f"{PODS} simulated pods on {NODES} nodes finished in {elapsed:.1f}s")
