"""Pod status the way the kubelet writes it: container states, phase and conditions."""

from __future__ import annotations

from dataclasses import dataclass, field

from testenv.agent.kubetime import now
from testenv.kubeapi import ApiError, KubeAPI, Obj


@dataclass
class ContainerState:
    """What the status of one container says."""

    name: str
    image: str
    restart_count: int = 0
    state: Obj = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: Obj = field(default_factory=dict)
    container_id: str = ""

    @property
    def running(self) -> bool:
        return "running" in self.state

    @property
    def terminated(self) -> Obj | None:
        result: Obj | None = self.state.get("terminated")
        return result

    def waiting(self, reason: str, message: str = "") -> None:
        self.state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}

    def start(self, container_id: str) -> None:
        self.container_id = container_id
        self.state = {"running": {"startedAt": now()}}

    def finish(self, exit_code: int, reason: str, message: str = "") -> None:
        started = self.state.get("running", {}).get("startedAt", now())
        terminated: Obj = {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": started,
            "finishedAt": now(),
            "containerID": self.container_id,
        }
        if message:
            terminated["message"] = message
        self.state = {"terminated": terminated}

    def restart(self) -> None:
        self.last_state = self.state
        self.restart_count += 1

    def to_api(self) -> Obj:
        return {
            "name": self.name,
            "image": self.image,
            "imageID": "",
            "containerID": self.container_id,
            "ready": self.running,
            "started": self.running,
            "restartCount": self.restart_count,
            "state": self.state,
            "lastState": self.last_state,
        }


def exit_reason(exit_code: int) -> str:
    return "Completed" if exit_code == 0 else "Error"


def condition(kind: str, ok: bool, reason: str = "", message: str = "") -> Obj:
    result: Obj = {"type": kind, "status": "True" if ok else "False", "lastTransitionTime": now()}
    if reason:
        result["reason"] = reason
    if message:
        result["message"] = message
    return result


def conditions(pod: Obj, initialized: bool, containers: list[ContainerState], sandbox: bool) -> list[Obj]:
    """Kubelet conditions, keeping the scheduler's PodScheduled and unchanged transitions."""
    previous = {c["type"]: c for c in pod.get("status", {}).get("conditions", [])}
    ready = bool(containers) and all(c.running for c in containers)
    not_ready = [c.name for c in containers if not c.running]
    message = f"containers with unready status: [{' '.join(not_ready)}]" if not_ready else ""
    completed = bool(containers) and all(c.terminated for c in containers)
    reason = "" if ready else "PodCompleted" if completed else "ContainersNotReady"
    fresh = [
        condition("PodReadyToStartContainers", sandbox),
        condition("Initialized", initialized, "" if initialized else "ContainersNotInitialized"),
        condition("Ready", ready, reason, "" if completed else message),
        condition("ContainersReady", ready, reason, "" if completed else message),
    ]
    result = [previous["PodScheduled"]] if "PodScheduled" in previous else []
    for c in fresh:
        old = previous.get(c["type"])
        if old is not None and old["status"] == c["status"]:
            c["lastTransitionTime"] = old.get("lastTransitionTime", c["lastTransitionTime"])
        result.append(c)
    return result


def write(api: KubeAPI, pod: Obj, status: Obj) -> None:
    """Replace the pod's status fields with `status` (a pod already gone is fine)."""
    meta = pod["metadata"]
    try:
        api.merge_patch(
            f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
            # The uid makes the API server refuse the patch for a new pod of the same name.
            {"metadata": {"uid": meta["uid"]}, "status": status},
        )
    except ApiError as e:
        if e.status not in (404, 409):
            raise
