"""Registering the agent's Nodes and keeping them Ready, as the kubelet does: Lease
renewals every few seconds, and the status conditions posted every so often and at once
after a renewal was late or failed (the node lifecycle controller may have marked the node
NotReady meanwhile, and only a status report makes it Ready again)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from testenv.agent.kubetime import micro_now, now
from testenv.agentconfig import NodeSpec
from testenv.kubeapi import ApiError, KubeAPI, Obj

KUBELET_VERSION = "v1.37.2-testenv"
LEASE_DURATION_SECONDS = 40
# A renewal this long after the previous one may have let the lease look stale to the node
# lifecycle controller, which then marks the node Ready=Unknown: report the status at once.
LATE_RENEWAL_SECONDS = LEASE_DURATION_SECONDS / 2
# Nodes whose heartbeats run at once: one slow request must not delay every other node.
HEARTBEAT_WORKERS = 8


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
                # A re-registered node keeps the transition times of its conditions.
                "conditions": _conditions(created.get("status", {}).get("conditions", [])),
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


def report_status(api: KubeAPI, name: str) -> None:
    """Post the node's conditions: healthy, with a fresh lastHeartbeatTime; a condition
    whose status is unchanged keeps its lastTransitionTime, as the kubelet's do."""
    node = api.get(f"/api/v1/nodes/{name}")
    conditions = _conditions(node.get("status", {}).get("conditions", []))
    # A merge patch replaces the whole list: it has to carry the conditions of others too.
    ours = {c["type"] for c in conditions}
    others = [c for c in node.get("status", {}).get("conditions", []) if c.get("type") not in ours]
    api.merge_patch(f"/api/v1/nodes/{name}/status", {"status": {"conditions": conditions + others}})


def _conditions(previous: list[Obj]) -> list[Obj]:
    stamp = now()
    before = {c.get("type"): c for c in previous}
    healthy = [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID"),
        ("Ready", "True", "KubeletReady"),
    ]
    conditions = []
    for kind, status, reason in healthy:
        old = before.get(kind, {})
        transition = old.get("lastTransitionTime") if old.get("status") == status else None
        conditions.append(
            {"type": kind, "status": status, "reason": reason, "message": "testenv node agent",
             "lastHeartbeatTime": stamp, "lastTransitionTime": transition or stamp}
        )  # fmt: skip
    return conditions


def _renew(api: KubeAPI, name: str) -> None:
    api.merge_patch(
        f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}",
        {"spec": {"renewTime": micro_now(), "holderIdentity": name}},
    )


@dataclass
class _NodeBeat:
    """What the heartbeat knows of one node, in `time.monotonic()` seconds."""

    name: str
    renewed: float  # the start of the last successful lease renewal
    reported: float  # the start of the last successful status report
    report_due: bool = False  # a renewal was late or failed, or so was the last report


class Heartbeat(threading.Thread):
    """Renews every Node's Lease each `interval` seconds and posts its status each
    `report_interval` seconds, and at the first heartbeat after a late or failed renewal,
    until `stop` is set.

    Nodes beat in parallel, each on its own: one failing or slow node delays no other. A
    status report costs a GET and a PATCH, which is why it is not sent every heartbeat.
    """

    def __init__(
        self, api: KubeAPI, names: list[str], interval: float, report_interval: float, stop: threading.Event
    ) -> None:
        super().__init__(name="heartbeat", daemon=True)
        self.api, self.interval, self.report_interval, self.stop_event = api, interval, report_interval, stop
        started = time.monotonic()  # every node was just registered: renewed and reported
        self.beats = [_NodeBeat(name, renewed=started, reported=started) for name in names]

    def run(self) -> None:
        workers = ThreadPoolExecutor(min(HEARTBEAT_WORKERS, max(1, len(self.beats))), thread_name_prefix="heartbeat")
        next_round = time.monotonic() + self.interval
        while not self.stop_event.wait(max(0.0, next_round - time.monotonic())):
            # On schedule, whatever a round took; after a starved round the next starts at once.
            next_round = max(next_round + self.interval, time.monotonic())
            try:
                list(workers.map(self._beat, self.beats))
            except Exception as e:  # noqa: BLE001 - the heartbeat must outlive any one round
                print(f"heartbeat round failed: {e!r}", flush=True)
        workers.shutdown(wait=False, cancel_futures=True)

    def _beat(self, beat: _NodeBeat) -> None:
        began = time.monotonic()
        try:
            _renew(self.api, beat.name)
        except Exception as e:  # noqa: BLE001 - one node's failure must not stop the others'
            print(f"heartbeat of {beat.name} failed: {e}", flush=True)
            beat.report_due = True
        else:
            gap = began - beat.renewed
            if gap > LATE_RENEWAL_SECONDS:
                print(f"lease of {beat.name} renewed {gap:.0f}s after the last: reporting its status", flush=True)
                beat.report_due = True
            beat.renewed = began
        if not beat.report_due and began - beat.reported < self.report_interval:
            return
        try:
            report_status(self.api, beat.name)
        except Exception as e:  # noqa: BLE001 - retried at the next heartbeat
            print(f"status report of {beat.name} failed: {e}", flush=True)
            beat.report_due = True
        else:
            beat.reported, beat.report_due = began, False
