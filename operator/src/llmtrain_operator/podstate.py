"""What the operator needs to know about one pod, read from its status like kubectl would."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmtrain.api.status import Failure

from llmtrain_operator import names

IMAGE_ERRORS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"})
MESSAGE_TAIL = 1024
"""Characters of a termination message kept in status: the end is where the reason is."""
TRAINER_ERROR = "llmtrain-trainer: error: "
TRAINER_INVALID_CONFIG = "llmtrain-trainer: invalid config: "
"""The built-in trainer's last words on stderr; under torchrun they are the useful part
of a log tail that ends with torchrun's own summary."""


def _tail(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MESSAGE_TAIL else "…" + text[-MESSAGE_TAIL:]


def _trainer_reason(text: str) -> str | None:
    """The trainer's one-line reason inside a termination message, if it left one."""
    for line in reversed(text.splitlines()):
        for marker in (TRAINER_INVALID_CONFIG, TRAINER_ERROR):
            if marker in line:
                return line[line.index(marker) :].strip()
    return None


def _message(text: str) -> str:
    return _trainer_reason(text) or _tail(text)


@dataclass(frozen=True)
class PodView:
    """A snapshot of one training pod."""

    name: str
    rank: int
    attempt: int
    phase: str
    deleting: bool = False
    pod_ip: str | None = None
    scheduled: bool = False
    unschedulable: str | None = None
    running: bool = False
    exit_code: int | None = None
    reason: str | None = None
    message: str = ""
    waiting_reason: str | None = None
    finished_at: str | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> PodView:
        """Read a pod object (a dict or kopf's body)."""
        metadata = body.get("metadata", {})
        labels = metadata.get("labels") or {}
        status = body.get("status") or {}
        conditions = {c.get("type"): c for c in status.get("conditions") or ()}
        scheduled_condition = conditions.get("PodScheduled", {})
        container: Mapping[str, Any] = next(
            (c for c in status.get("containerStatuses") or () if c.get("name") == names.TRAINER_CONTAINER), {}
        )
        state = container.get("state") or {}
        terminated = state.get("terminated") or {}
        waiting = state.get("waiting") or {}
        pod_reason = status.get("reason")
        return cls(
            name=metadata.get("name", ""),
            rank=int(labels.get(names.NODE_RANK, "-1")),
            attempt=int(labels.get(names.ATTEMPT, "0")),
            phase=status.get("phase") or "Pending",
            deleting=metadata.get("deletionTimestamp") is not None,
            pod_ip=status.get("podIP"),
            scheduled=scheduled_condition.get("status") == "True",
            unschedulable=(
                scheduled_condition.get("message") or "the scheduler found no node for the pod"
                if scheduled_condition.get("reason") == "Unschedulable"
                else None
            ),
            running="running" in state,
            exit_code=terminated.get("exitCode"),
            reason=pod_reason or terminated.get("reason"),
            message=_message(status.get("message") or terminated.get("message") or waiting.get("message") or ""),
            waiting_reason=waiting.get("reason"),
            finished_at=terminated.get("finishedAt"),
        )

    @property
    def succeeded(self) -> bool:
        """Every process of the node exited 0."""
        return self.phase == "Succeeded"

    @property
    def failed(self) -> bool:
        """The pod ended in failure: a non-zero exit, an eviction, or an image that cannot be pulled."""
        return self.phase == "Failed" or self.waiting_reason in IMAGE_ERRORS

    @property
    def started(self) -> bool:
        """The training process ran at some point."""
        return self.running or self.phase in ("Running", "Succeeded", "Failed")

    @property
    def invalid_config(self) -> bool:
        """The built-in trainer refused its configuration: no retry can help."""
        return self.message.startswith(TRAINER_INVALID_CONFIG)

    @property
    def evicted(self) -> bool:
        """Killed by the node or the cluster, not by the training code."""
        return self.reason in ("Evicted", "Preempting", "NodeLost", "Terminated", "Shutdown")

    def failure(self) -> Failure:
        """Why this pod failed, for status.failure."""
        if self.waiting_reason in IMAGE_ERRORS:
            reason = "ImagePullBackOff" if self.waiting_reason == "ErrImagePull" else self.waiting_reason
        else:
            reason = self.reason or "Error"
        return Failure(reason=reason or "Error", message=self.message, rank=self.rank, pod=self.name, exit_code=self.exit_code)
