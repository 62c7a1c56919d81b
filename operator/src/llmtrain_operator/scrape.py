"""Reading rank 0's Prometheus metrics over HTTP: the only I/O behind status.progress."""

from __future__ import annotations

import math
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from llmtrain.api.contract import METRIC_LAST_RESTART, METRIC_RANK_FORWARD_SECONDS
from llmtrain_operator.progress import RestartCause, TrainerMetrics

SCRAPE_TIMEOUT_SECONDS = 2.0


def parse_metrics(text: str) -> TrainerMetrics:
    """The `llmtrain_*` samples of a /metrics page, by name, the last restart's labels and
    every rank's forward seconds."""
    samples: dict[str, float] = {}
    forward: dict[int, float] = {}
    last_restart = None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == METRIC_LAST_RESTART and sample.value == 1:
                labels = sample.labels
                last_restart = RestartCause(int(labels["node_rank"]), labels["reason"], labels["summary"])
            elif sample.name == METRIC_RANK_FORWARD_SECONDS:
                forward[int(sample.labels["rank"])] = sample.value
            elif sample.name.startswith("llmtrain_") and not math.isnan(sample.value):
                samples[sample.name] = sample.value
    return TrainerMetrics(samples, last_restart, forward)


def scrape(pod_ip: str, port: int) -> TrainerMetrics | None:
    """Read rank 0's metrics; None when it serves none (yet, or ever: a custom command)."""
    host = f"[{pod_ip}]" if ":" in pod_ip else pod_ip
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=SCRAPE_TIMEOUT_SECONDS) as response:
            return parse_metrics(response.read().decode())
    except (OSError, ValueError):
        return None
