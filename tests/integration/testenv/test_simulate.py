"""Simulate mode walks hundreds of pods on a hundred nodes through their phases."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from testenv import ControlPlane, NodeAgent, NodeAgentSettings, NodeSpec, SimulateSettings
from testenv.kubeapi import KubeAPI
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


def test_hundreds_of_pods_succeed_on_a_hundred_nodes(simulated: NodeAgent, kubectl: Kubectl, namespace: str) -> None:
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

    api = KubeAPI(simulated.cluster.kubeconfig_path)
    began = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: api.create(f"/api/v1/namespaces/{namespace}/pods", pod(i)), range(PODS)))
    created = time.monotonic() - began

    def phases() -> Counter[str] | None:
        listing = json.loads(kubectl("get", "pods", "-o", "json").stdout)["items"]
        counts = Counter(p.get("status", {}).get("phase") for p in listing)
        return counts if counts["Succeeded"] + counts["Failed"] == PODS else None

    counts = eventually(phases, timeout=120, interval=1)
    elapsed = time.monotonic() - began
    assert counts == Counter({"Succeeded": PODS - 1, "Failed": 1})
    nodes_used = {p["spec"]["nodeName"] for p in json.loads(kubectl("get", "pods", "-o", "json").stdout)["items"]}
    assert all(name.startswith("sim-") for name in nodes_used) and len(nodes_used) > 10
    print(f"{PODS} simulated pods on {NODES} nodes: created in {created:.1f}s, finished after {elapsed:.1f}s")
