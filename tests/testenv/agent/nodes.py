"""Registering the agent's Nodes and keeping them Ready with Lease heartbeats."""

from __future__ import annotations

import threading

from testenv.agent.kubetime import micro_now, now
from testenv.agentconfig import NodeSpec
from testenv.kubeapi import ApiError, KubeAPI, Obj

KUBELET_VERSION = "v1.37.2-testenv"
LEASE_DURATION_SECONDS = 40


def register(api: KubeAPI, spec: NodeSpec, host: str, kubelet_port: int) -> None:
    """Create (or update) the Node and its Lease, and report it Ready."""
    labels = {
        "kubernetes.io/hostname": spec.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        **spec.labels,
    }
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": spec.name, "labels": labels},
        "spec": {"taints": spec.taints},
    }
    try:
        created = api.create("/api/v1/nodes", node)
    except ApiError as e:
        if e.status != 409:
            raise
        created = api.merge_patch(f"/api/v1/nodes/{spec.name}", node)
    resources = {
        "cpu": spec.cpu,
        "memory": spec.memory,
        "pods": str(spec.pods),
        "ephemeral-storage": "1Ti",
        "nvidia.com/gpu": str(spec.gpus),
        **spec.extra_resources,
    }
    api.merge_patch(
        f"/api/v1/nodes/{spec.name}/status",
        {
            "status": {
                "capacity": resources,
                "allocatable": resources,
                "conditions": _conditions(),
                "addresses": [
                    {"type": "InternalIP", "address": host},
                    {"type": "Hostname", "address": spec.name},
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
                "nodeInfo": {
                    "kubeletVersion": KUBELET_VERSION,
                    "kubeProxyVersion": "",
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                    "containerRuntimeVersion": "testenv://1.0",
                    "osImage": "testenv node agent",
                    "kernelVersion": "",
                    "machineID": "",
                    "systemUUID": created["metadata"]["uid"],
                    "bootID": "",
                },
            }
        },
    )
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": spec.name,
            "namespace": "kube-node-lease",
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Node", "name": spec.name, "uid": created["metadata"]["uid"]}
            ],
        },
        "spec": {
            "holderIdentity": spec.name,
            "leaseDurationSeconds": LEASE_DURATION_SECONDS,
            "renewTime": micro_now(),
        },
    }
    try:
        api.create("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", lease)
    except ApiError as e:
        if e.status != 409:
            raise
        _renew(api, spec.name)


def _conditions() -> list[Obj]:
    stamp = now()
    healthy = [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID"),
        ("Ready", "True", "KubeletReady"),
    ]
    return [
        {"type": t, "status": s, "reason": r, "message": "testenv node agent",
         "lastHeartbeatTime": stamp, "lastTransitionTime": stamp}
        for t, s, r in healthy
    ]  # fmt: skip


def _renew(api: KubeAPI, name: str) -> None:
    api.merge_patch(
        f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}",
        {"spec": {"renewTime": micro_now(), "holderIdentity": name}},
    )


class Heartbeat(threading.Thread):
    """Renews every Node's Lease each `interval` seconds until `stop` is set."""

    def __init__(self, api: KubeAPI, names: list[str], interval: float, stop: threading.Event) -> None:
        super().__init__(name="heartbeat", daemon=True)
        self.api, self.names, self.interval, self.stop_event = api, names, interval, stop

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            for name in self.names:
                try:
                    _renew(self.api, name)
                except (ApiError, OSError) as e:
                    print(f"heartbeat of {name} failed: {e}", flush=True)
