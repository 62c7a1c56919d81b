"""What the agent's pod workers share: the API, addresses, DNS, mount points, logs, events."""

from __future__ import annotations

import contextlib
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

from testenv.agent.kubetime import micro_now, now
from testenv.agent.network import AddressPool, HostsFile
from testenv.agent.podvolumes import MountPoints
from testenv.agentconfig import AgentConfig
from testenv.kubeapi import ApiError, KubeAPI, Obj


@dataclass
class ContainerLog:
    """Where a container's output goes; `running` tells a following reader to keep waiting."""

    current: Path
    previous: Path | None = None
    running: bool = True


@dataclass
class Runtime:
    api: KubeAPI
    config: AgentConfig
    stop: threading.Event
    addresses: AddressPool
    hosts: HostsFile
    mountpoints: MountPoints = field(default_factory=MountPoints)
    allocatable: dict[str, dict[str, str]] = field(default_factory=dict)
    logs: dict[tuple[str, str, str], ContainerLog] = field(default_factory=dict)

    def pod_dir(self, pod: Obj) -> Path:
        meta = pod["metadata"]
        return self.config.state_dir / "pods" / f"{meta['namespace']}_{meta['name']}_{meta['uid']}"

    def event(self, pod: Obj, reason: str, message: str, kind: str = "Normal") -> None:
        """Record an Event on the pod, as `kubectl describe pod` shows the kubelet's."""
        meta = pod["metadata"]
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": "v1", "kind": "Pod", "name": meta["name"],
                "namespace": meta["namespace"], "uid": meta["uid"],
            },
            "reason": reason,
            "message": message,
            "type": kind,
            "source": {"component": "kubelet", "host": pod["spec"].get("nodeName", "")},
            "reportingComponent": "kubelet",
            "reportingInstance": pod["spec"].get("nodeName", ""),
            "firstTimestamp": now(),
            "lastTimestamp": now(),
            "eventTime": micro_now(),
            "action": reason,
            "count": 1,
        }  # fmt: skip
        with contextlib.suppress(ApiError, OSError):  # events are best effort, as in the kubelet
            self.api.create(f"/api/v1/namespaces/{meta['namespace']}/events", event)

    def delete_pod(self, pod: Obj) -> None:
        """Remove a pod object whose containers are gone (grace 0, this very pod only)."""
        meta = pod["metadata"]
        try:
            self.api.delete(
                f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}},
            )
        except ApiError as e:
            if e.status not in (404, 409):
                raise
