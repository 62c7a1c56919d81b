"""The node agent and the real kubelet run the same pod specs to the same end: exit code,
reason, termination message (both policies, a custom path), environment, volumes and logs.
The node agent is the fast path of most tests; this keeps it from drifting from the real one."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from testenv.containers.cluster import ContainerCluster
from testenv.controlplane import ControlPlane
from testenv.images import TRAINER_REF
from testenv.testing import eventually

Kubectl = Callable[..., str]

SCRIPTS: dict[str, dict[str, Any]] = {
    "message-file": {
        "command": ["python3", "-c", "open('/dev/termination-log', 'w').write('boom'); raise SystemExit(3)"],
    },
    "fallback-to-logs": {
        "command": ["sh", "-c", "for i in 1 2 3; do echo line $i; done; exit 2"],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    },
    "fallback-on-success": {
        "command": ["sh", "-c", "echo fine"],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    },
    "custom-path": {
        "command": ["sh", "-c", "printf custom > /tmp/why; exit 0"],
        "terminationMessagePath": "/tmp/why",
    },
    "killed": {
        "command": ["sh", "-c", "python3 -c 'import os, signal; os.kill(os.getpid(), signal.SIGKILL)'"],
    },
    "env-and-volumes": {
        "command": [
            "sh", "-c",
            'echo "$GREETING $POD_NAME $CPU_LIMIT"; cat /config/key; echo; echo scratch > /scratch/f; cat /scratch/f',
        ],
        "env": [
            {"name": "GREETING", "value": "hello"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "CPU_LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}},
        ],
        "volumeMounts": [{"name": "config", "mountPath": "/config"}, {"name": "scratch", "mountPath": "/scratch"}],
        "resources": {"limits": {"cpu": "250m", "memory": "128Mi"}},
    },
}  # fmt: skip


def _pod(name: str, container: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": TRAINER_REF, **container}],
            "volumes": [
                {"name": "config", "configMap": {"name": "parity"}},
                {"name": "scratch", "emptyDir": {}},
            ],
        },
    }


def _run_all(kubectl: Kubectl) -> dict[str, dict[str, Any]]:
    kubectl("create", "configmap", "parity", "--from-literal=key=value-from-configmap")
    for name, container in SCRIPTS.items():
        kubectl("create", "-f", "-", input=json.dumps(_pod(name, container)))
    results: dict[str, dict[str, Any]] = {}
    for name in SCRIPTS:

        def terminated(pod: str = name) -> dict[str, Any] | None:
            status = json.loads(kubectl("get", "pod", pod, "-o", "json"))["status"]
            states = status.get("containerStatuses") or [{}]
            return states[0].get("state", {}).get("terminated")

        state = eventually(terminated, timeout=180, interval=0.5)
        results[name] = {
            "exitCode": state["exitCode"],
            "reason": state.get("reason"),
            "message": state.get("message"),
            "logs": kubectl("logs", name),
        }
    return results


@pytest.mark.usefixtures("node_agent")
def test_the_node_agent_ends_pods_as_the_kubelet_does(
    real_cluster: ContainerCluster, control_plane: ControlPlane, namespace: str, node_namespace: str
) -> None:
    def agent(*args: str, input: str | None = None) -> str:
        return control_plane.kubectl("-n", namespace, *args, input=input).stdout

    def kubelet(*args: str, input: str | None = None) -> str:
        return real_cluster.kubectl("-n", node_namespace, *args, input=input).stdout

    real = _run_all(kubelet)
    simulated = _run_all(agent)

    assert real["message-file"]["message"] == "boom", "the kubelet itself must be what the cases describe"
    assert real["env-and-volumes"]["logs"] == "hello env-and-volumes 250\nvalue-from-configmap\nscratch\n"
    for name in SCRIPTS:
        assert simulated[name] == real[name], f"{name}: node agent {simulated[name]} != kubelet {real[name]}"
