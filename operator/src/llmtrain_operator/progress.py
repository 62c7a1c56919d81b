"""Training progress from rank 0's Prometheus text: parsing and the figures for status."""

from __future__ import annotations

import math
import urllib.request
from datetime import datetime

from llmtrain.api.contract import step_path
from llmtrain.api.status import CheckpointStatus, Progress
from prometheus_client.parser import text_string_to_metric_families

TrainerMetrics = dict[str, float]
SCRAPE_TIMEOUT_SECONDS = 2.0


def parse_metrics(text: str) -> TrainerMetrics:
    """The `llmtrain_*` samples of a /metrics page, by name."""
    samples: TrainerMetrics = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("llmtrain_") and not math.isnan(sample.value):
                samples[sample.name] = sample.value
    return samples


def scrape(pod_ip: str, port: int) -> TrainerMetrics | None:
    """Read rank 0's metrics; None when it serves none (yet, or ever: a custom command)."""
    host = f"[{pod_ip}]" if ":" in pod_ip else pod_ip
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=SCRAPE_TIMEOUT_SECONDS) as response:
            return parse_metrics(response.read().decode())
    except (OSError, ValueError):
        return None


def format_duration(seconds: float) -> str:
    """2h13m, 4m05s or 12s."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def progress_from(metrics: TrainerMetrics, now: datetime) -> Progress | None:
    """status.progress; None until the trainer has finished a step."""
    step = int(metrics.get("llmtrain_step", 0))
    if step <= 0:
        return None
    total = metrics.get("llmtrain_total_steps")
    tokens_per_second = metrics.get("llmtrain_tokens_per_second")
    tokens_total = metrics.get("llmtrain_tokens_total")
    eta = None
    if total and tokens_per_second and tokens_total:
        remaining_tokens = (total - step) * tokens_total / step
        eta = format_duration(max(remaining_tokens, 0.0) / tokens_per_second)
    return Progress(
        step=step,
        total_steps=int(total) if total else None,
        loss=metrics.get("llmtrain_loss"),
        tokens_per_second=tokens_per_second,
        mfu=metrics.get("llmtrain_mfu"),
        eta=eta,
        updated_at=now,
    )


def checkpoint_from(
    metrics: TrainerMetrics, checkpoint_dir: str, previous: CheckpointStatus | None, now: datetime
) -> CheckpointStatus | None:
    """status.checkpoint; the time is when the operator first saw that step."""
    step = int(metrics.get("llmtrain_checkpoint_step", 0))
    if step <= 0:
        return previous
    if previous is not None and previous.step == step:
        return previous
    return CheckpointStatus(step=step, path=step_path(checkpoint_dir, step), saved_at=now)
