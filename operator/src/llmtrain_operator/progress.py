"""Training progress for status, from the figures rank 0 reported (read by `scrape`). Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from llmtrain.api.contract import step_path
from llmtrain.api.status import CheckpointStatus, Progress, format_duration


@dataclass(frozen=True)
class RestartCause:
    """The failure behind the last restart in place, as rank 0 labels its gauge."""

    node_rank: int
    reason: str
    summary: str


@dataclass(frozen=True)
class TrainerMetrics:
    """What rank 0 reported: its `llmtrain_*` samples by name, and the cause of its last
    restart in place when there was one."""

    values: dict[str, float] = field(default_factory=dict)
    last_restart: RestartCause | None = None
    forward_seconds: dict[int, float] = field(default_factory=dict)
    """Each global rank's mean forward-pass seconds per step over the last 50 steps."""


def progress_from(metrics: TrainerMetrics, now: datetime, previous: Progress | None = None) -> Progress | None:
    """status.progress; None until the trainer has finished a step. `step_advanced_at` moves
    only when the step does."""
    values = metrics.values
    step = int(values.get("llmtrain_step", 0))
    if step <= 0:
        return None
    total = values.get("llmtrain_total_steps")
    tokens_per_second = values.get("llmtrain_tokens_per_second")
    tokens_total = values.get("llmtrain_tokens_total")
    eta = None
    if total and tokens_per_second and tokens_total:
        remaining_tokens = (total - step) * tokens_total / step
        eta = format_duration(max(remaining_tokens, 0.0) / tokens_per_second)
    return Progress(
        step=step,
        total_steps=int(total) if total else None,
        loss=values.get("llmtrain_loss"),
        tokens_per_second=tokens_per_second,
        mfu=values.get("llmtrain_mfu"),
        eta=eta,
        updated_at=now,
        step_advanced_at=(
            previous.step_advanced_at
            if previous is not None and previous.step == step and previous.step_advanced_at is not None
            else now
        ),
    )


def checkpoint_from(
    metrics: TrainerMetrics, checkpoint_dir: str, previous: CheckpointStatus | None, now: datetime
) -> CheckpointStatus | None:
    """status.checkpoint; the time is when the operator first saw that step."""
    step = int(metrics.values.get("llmtrain_checkpoint_step", 0))
    if step <= 0:
        return previous
    if previous is not None and previous.step == step:
        return previous
    return CheckpointStatus(step=step, path=step_path(checkpoint_dir, step), saved_at=now)
