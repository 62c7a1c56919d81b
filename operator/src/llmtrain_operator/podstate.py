"""What the operator needs to know about one pod, read from its status like kubectl would."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmtrain.api import names
from llmtrain.api.contract import SIGNAL_EXIT_BASE, WORKER_KILLED, TrainerReport, killed_summary, text_end
from llmtrain.api.status import Failure

IMAGE_ERRORS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"})
NODE_REASONS = frozenset(
    {"OOMKilled", "Evicted", "Preempting", "NodeLost", "Terminated", "Shutdown", "DeadlineExceeded"}
)
"""Pod and container reasons set by the node, which say more than the training process could."""
DISRUPTION_REASONS = frozenset({"Evicted", "Preempting", "NodeLost", "Terminated", "Shutdown"})
"""Pod reasons of a node that evicted the pod or went away with it: no fault of the job's."""
MESSAGE_LIMIT = 2048
"""Bytes of a termination message kept in status.failure: the first line and the end of the detail."""
CAUSE_LIMIT = 300
"""Characters of the exception line put ahead of a log tail."""
_TORCHRUN_ROOT_EXIT = re.compile(r"Root Cause.*?exitcode\s*:\s*(-?\d+)", re.DOTALL)


_PYTHON_EXCEPTION = re.compile(r"^(?:\[rank\d+\]: )?([A-Za-z_][\w.]*(?:Error|Exception|Interrupt)\b.*)$", re.MULTILINE)


def _with_cause_first(text: str) -> str:
    """A custom command's log tail, led by the last Python exception line in it (if any),
    so the one-line reason in events and conditions is the cause, not a banner."""
    causes = _PYTHON_EXCEPTION.findall(text)
    return f"{causes[-1].strip()[:CAUSE_LIMIT]}\n{text}" if causes else text


def _torchrun_worker_exit(text: str) -> int | None:
    """The root-cause worker's exit code in plain torchrun's failure summary (custom commands):
    negative for a signal, which torchrun's own exit code 1 hides."""
    match = _TORCHRUN_ROOT_EXIT.search(text)
    return int(match.group(1)) if match else None


def _disruption(condition: Mapping[str, Any], pod_reason: str | None) -> str | None:
    if condition.get("status") == "True":
        return str(condition.get("reason") or "DisruptionTarget")
    return pod_reason if pod_reason in DISRUPTION_REASONS else None


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
    report: TrainerReport | None = None
    waiting_reason: str | None = None
    finished_at: str | None = None
    node: str | None = None
    """The node the pod is bound to."""
    disruption: str | None = None
    """Why the cluster took the pod away: its DisruptionTarget condition's reason (eviction,
    preemption, a node taint, the kubelet), or the node's own reason for an eviction."""

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
        text = status.get("message") or terminated.get("message") or waiting.get("message") or ""
        exit_code = terminated.get("exitCode")
        report = TrainerReport.parse(text)
        worker_exit = _torchrun_worker_exit(text) if report is None and exit_code == 1 else None
        if worker_exit is not None and worker_exit < 0:
            report = TrainerReport(WORKER_KILLED, killed_summary("a worker", -worker_exit), text)
            exit_code = SIGNAL_EXIT_BASE - worker_exit
        elif (
            report is None
            and exit_code is not None
            and exit_code > SIGNAL_EXIT_BASE
            and (pod_reason or terminated.get("reason")) not in NODE_REASONS
        ):
            # The container's main process itself was signalled (a runtime's kill, the OOM
            # killer choosing the launcher): no report, and the kubelet calls it "Error" with
            # whatever the log ended with. The signal is the cause; the log stays the detail.
            who = "the training container"
            report = TrainerReport(WORKER_KILLED, killed_summary(who, exit_code - SIGNAL_EXIT_BASE), text)
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
            exit_code=exit_code,
            reason=pod_reason or terminated.get("reason"),
            message=report.render(MESSAGE_LIMIT)
            if report is not None
            else _with_cause_first(text_end(text.strip(), MESSAGE_LIMIT)),
            report=report,
            waiting_reason=waiting.get("reason"),
            finished_at=terminated.get("finishedAt"),
            node=(body.get("spec") or {}).get("nodeName"),
            disruption=_disruption(conditions.get("DisruptionTarget", {}), pod_reason),
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
    def permanent(self) -> bool:
        """The trainer reported a failure no retry can fix (an invalid config, another job's checkpoints)."""
        return self.report is not None and self.report.permanent

    @property
    def killed(self) -> bool:
        """Ended by a signal or by its node: a cause, where the other ranks' errors are its effects."""
        return (self.exit_code is not None and self.exit_code >= SIGNAL_EXIT_BASE) or self.reason in NODE_REASONS

    @property
    def evicted(self) -> bool:
        """Killed by the node or the cluster, not by the training code."""
        return self.disruption is not None

    def failure(self) -> Failure:
        """Why this pod failed, for status.failure: the node's reason, else the trainer's, else Error."""
        if self.waiting_reason in IMAGE_ERRORS:
            reason = "ImagePullBackOff" if self.waiting_reason == "ErrImagePull" else self.waiting_reason
        elif self.reason in NODE_REASONS or self.report is None:
            reason = self.reason or "Error"
        else:
            reason = self.report.reason
        return Failure(reason=reason, message=self.message, rank=self.rank, pod=self.name, exit_code=self.exit_code)
