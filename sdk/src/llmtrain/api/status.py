"""`status` of an LLMTrainingJob: what the operator observed, written only by the operator."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from pydantic import Field

from llmtrain.api.base import ApiModel
from llmtrain.api.contract import TrainerReport

Phase = Literal["Pending", "Starting", "Running", "Restarting", "Succeeded", "Failed", "Suspended"]
"""Pending: waiting for pods to be scheduled; Starting: pods scheduled, not all running;
Running: every rank runs; Restarting: a failed attempt is being torn down for the next one;
Succeeded / Failed: finished; Suspended: stopped by runPolicy.suspend."""

PHASES: tuple[Phase, ...] = get_args(Phase)
"""Every phase, in the order of a job's life."""
FINISHED_PHASES: frozenset[Phase] = frozenset({"Succeeded", "Failed"})

ConditionType = Literal["Created", "Running", "Restarting", "Succeeded", "Failed", "Suspended"]
"""The conditions the operator writes."""


class Condition(ApiModel):
    """A metav1.Condition: one aspect of the job's state and when it last changed."""

    type: ConditionType
    """Which aspect of the job the condition describes; a job has one condition of each type at most."""
    status: Literal["True", "False", "Unknown"]
    """Whether the condition holds."""
    reason: str
    """One CamelCase word for programs, e.g. BackoffLimitExceeded."""
    message: str = ""
    """What happened, for people."""
    last_transition_time: datetime
    """When status last changed."""
    observed_generation: int | None = None
    """The spec generation the condition was computed from."""


class NodeCounts(ApiModel):
    """Pods of the current attempt by state."""

    desired: int = 0
    """Pods the job wants (spec.nodes)."""
    active: int = 0
    """Pods that exist and have not finished."""
    ready: int = 0
    """Pods whose training container runs."""
    succeeded: int = 0
    """Pods that exited 0."""
    failed: int = 0
    """Pods that failed."""


class Failure(ApiModel):
    """Why the job failed, or why its last attempt did."""

    reason: str
    """OOMKilled, Error, Evicted, DeadlineExceeded, BackoffLimitExceeded, ImagePullBackOff, Unschedulable, ..."""
    message: str = ""
    """Details: the tail of the rank's termination message or the scheduler's explanation."""
    rank: int | None = None
    """Node rank of the pod that failed first."""
    pod: str | None = None
    """Name of that pod."""
    exit_code: int | None = None
    """Exit code of its training container."""

    def one_line(self) -> str:
        """`WorkerKilled on rank 1 (gpt-node-1), exit code 137: <the message's first line>`."""
        where = []
        if self.rank is not None:
            where.append(f"rank {self.rank}" + (f" ({self.pod})" if self.pod else ""))
        if self.exit_code is not None:
            where.append(f"exit code {self.exit_code}")
        first = self.message.strip().splitlines()[0] if self.message.strip() else ""
        report = TrainerReport.parse(first)
        detail = report.summary if report is not None else first
        return self.reason + (f" on {', '.join(where)}" if where else "") + (f": {detail}" if detail else "")


def format_duration(seconds: float) -> str:
    """kubectl's compact form: 45s, 2m30s, 5m, 3h12m, 2d4h; the form of progress.eta, and
    of ages and run times in the CLI."""
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 600:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if hours < 3:
        return f"{hours}h{minutes % 60}m" if hours else f"{minutes}m"
    if days < 2:
        return f"{hours}h"
    return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"


class Progress(ApiModel):
    """Training progress read from rank 0's metrics."""

    step: int = Field(default=0, ge=0)
    """Last completed optimizer step."""
    total_steps: int | None = None
    """Steps the job trains for."""
    loss: float | None = None
    """Training loss at that step."""
    tokens_per_second: float | None = None
    """Throughput over all ranks."""
    mfu: float | None = None
    """Model FLOPs utilisation: achieved FLOP/s over the device's dense bf16 peak (H100/H200 SXM: 989e12)."""
    eta: str | None = None
    """Estimated time left, e.g. 2h13m (as kubectl writes an age)."""
    updated_at: datetime | None = None
    """When these figures were read."""
    step_advanced_at: datetime | None = None
    """When the step last advanced (or the attempt started): what runPolicy.hangTimeoutSeconds is measured from."""
    resuming_from: int | None = Field(default=None, ge=0)
    """Set while a new attempt starts after a restart: the checkpoint step it resumes from (0: the start). The figures
    above are cleared until the new attempt reports."""


class CheckpointStatus(ApiModel):
    """The latest complete checkpoint."""

    step: int
    """Step the checkpoint holds."""
    path: str | None = None
    """Its directory inside the pods."""
    saved_at: datetime | None = None
    """When the operator first saw it."""


class Straggler(ApiModel):
    """A rank persistently slower than the others: every step of a synchronous job waits for it."""

    rank: int
    """Global rank of the slow training process."""
    pod: str
    node: str | None = None
    """The node its pod runs on."""
    slowdown: float
    """Its forward passes' time over the median of the other ranks', over the last 50 steps."""
    since: datetime


class LLMTrainingJobStatus(ApiModel):
    """The observed state of a training job."""

    phase: Phase | None = None
    """Where the job is in its life."""
    conditions: list[Condition] | None = None
    """Standard conditions, one per type."""
    observed_generation: int | None = None
    """The spec generation this status describes."""
    nodes: NodeCounts | None = None
    """Pod counts of the current attempt."""
    restarts: int = 0
    """Gang restarts so far: every pod deleted and a new attempt started."""
    restarts_in_place: int = 0
    """Training-process restarts inside the running pods so far (runPolicy.recovery InPlace)."""
    preemptions: int = 0
    """Recoveries because the cluster took a pod away (an eviction, a node drain or loss, a preemption): a gang
    restart, or that pod replaced alone (podReplacements); they do not count against backoffLimit."""
    pod_replacements: int = 0
    """Pods created again alone, for a rank other than 0 whose pod was deleted, evicted or lost with its node while the
    other pods stayed (runPolicy.recovery InPlace). A replacement is not counted against backoffLimit; a training
    process that failed because of it is, in restartsInPlace."""
    stragglers: list[Straggler] | None = None
    """Ranks of the running attempt slower than runPolicy.stragglerFactor times the median of the others."""
    attempt: int = 0
    """Number of the current attempt (label llmtrain.dev/attempt)."""
    start_time: datetime | None = None
    """When the first attempt started."""
    completion_time: datetime | None = None
    """When the job succeeded or failed."""
    failure: Failure | None = None
    """Why the job (or its last attempt) failed."""
    progress: Progress | None = None
    """Training progress."""
    checkpoint: CheckpointStatus | None = None
    """Latest checkpoint."""
