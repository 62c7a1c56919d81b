"""Training metrics: throughput, MFU, Prometheus on rank 0, and the log line.

MFU = achieved model FLOP/s per device ÷ the device's peak dense bf16 FLOP/s, with model
FLOPs per token 6·N + 12·L·H·Q·T (`models.flops`). The peak comes from the table below
by device name, or from `logging.peakFlops`; without either, MFU is not reported.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from llmtrain.api.contract import METRIC_LAST_RESTART, METRIC_RANK_FORWARD_SECONDS, METRIC_RESTARTS_IN_PLACE

log = logging.getLogger("llmtrain_trainer")

# Dense (not sparse) bf16 tensor-core FLOP/s. Ordered so that a more specific name is
# matched before a name it contains ("H100 PCIe" before "H100", "L40S" before "L4").
PEAK_FLOPS: tuple[tuple[str, float], ...] = (
    ("B200", 2.25e15),
    ("H200", 989e12),
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),
    ("H800", 989e12),
    ("A100", 312e12),
    ("A800", 312e12),
    ("L40S", 362e12),
    ("L40", 181e12),
    ("L4", 121e12),
    ("A10G", 70e12),
    ("A10", 125e12),
    ("MI300X", 1307e12),
)


def device_name(device: torch.device) -> str:
    """The device's marketing name, e.g. "NVIDIA H100 80GB HBM3", or "cpu"."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else device.type


def peak_flops(name: str, override: float | None) -> float | None:
    """Peak dense bf16 FLOP/s of a device, from the override or the table."""
    if override is not None:
        return override
    return next((flops for key, flops in PEAK_FLOPS if key in name), None)


@dataclass(frozen=True)
class StepMetrics:
    """What is reported for one logging interval."""

    step: int
    total_steps: int
    loss: float
    learning_rate: float
    grad_norm: float
    tokens_per_second: float
    tokens_per_second_per_device: float
    tokens_total: int
    mfu: float | None
    memory_peak_bytes: int
    data_loading_share: float


class Throughput:
    """Tokens, wall time and data-loading time since the last report."""

    def __init__(self, flops_per_token: int, world_size: int, peak: float | None) -> None:
        self.flops_per_token = flops_per_token
        self.world_size = world_size
        self.peak = peak
        self._reset()

    def _reset(self) -> None:
        self.started = time.perf_counter()
        self.tokens = 0
        self.data_seconds = 0.0

    def add(self, tokens: int, data_seconds: float) -> None:
        self.tokens += tokens
        self.data_seconds += data_seconds

    def report(self) -> tuple[float, float, float | None, float]:
        """Global tokens/s, tokens/s per device, MFU and the data-loading share; then restart."""
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        per_second = self.tokens / elapsed
        per_device = per_second / self.world_size
        mfu = per_device * self.flops_per_token / self.peak if self.peak else None
        share = self.data_seconds / elapsed
        self._reset()
        return per_second, per_device, mfu, share


def memory_peak_bytes(device: torch.device) -> int:
    return torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0


class PrometheusExporter:
    """The `llmtrain_*` gauges that the operator scrapes from rank 0."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.rank_forward = Gauge(
            METRIC_RANK_FORWARD_SECONDS,
            "Median forward-pass seconds per step of each rank over its last 50 steps.",
            ["rank"],
            registry=self.registry,
        )

        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(f"llmtrain_{name}", doc, registry=self.registry)

        self.step = gauge("step", "Optimizer steps completed.")
        self.total_steps = gauge("total_steps", "Optimizer steps the run trains for.")
        self.loss = gauge("loss", "Training loss (mean over the last logged step's target tokens).")
        self.learning_rate = gauge("learning_rate", "Learning rate of the last step.")
        self.grad_norm = gauge("grad_norm", "Global gradient norm before clipping.")
        self.tokens_per_second = gauge("tokens_per_second", "Training tokens per second over all devices.")
        self.tokens_total = gauge("tokens_total", "Training tokens processed since the run began.")
        self.mfu = gauge(
            "mfu", "Model FLOPs utilisation: (6N + 12LHQT) x tokens/s per device / peak dense bf16 FLOP/s."
        )
        self.checkpoint_step = gauge("checkpoint_step", "Step of the latest complete checkpoint.")
        self.memory = gauge("gpu_memory_peak_bytes", "Peak GPU memory allocated by this process.")
        self.restarts_in_place = Gauge(
            METRIC_RESTARTS_IN_PLACE, "Training-process restarts of the job inside its pods.", registry=self.registry
        )
        self.last_restart = Gauge(
            METRIC_LAST_RESTART,
            "1, labelled with the node rank, reason and summary of the failure behind the last restart in place.",
            ["node_rank", "reason", "summary"],
            registry=self.registry,
        )

    def rank_forward_seconds(self, means: list[float]) -> None:
        """Each rank's median forward seconds per step over its last steps."""
        for rank, seconds in enumerate(means):
            self.rank_forward.labels(str(rank)).set(seconds)

    def serve(self, port: int, address: str) -> int:
        """Serve /metrics; the bound port (port 0 takes a free one)."""
        server, _ = start_http_server(port, addr=address, registry=self.registry)
        return int(server.server_port)

    def restarted(self, restarts_in_place: int, node_rank: int | None, reason: str, summary: str) -> None:
        """Restarts so far and, when this round follows a failure, its cause."""
        self.restarts_in_place.set(restarts_in_place)
        if node_rank is not None:
            self.last_restart.clear()
            self.last_restart.labels(str(node_rank), reason, summary).set(1)

    def update(self, m: StepMetrics) -> None:
        self.step.set(m.step)
        self.total_steps.set(m.total_steps)
        self.loss.set(m.loss)
        self.learning_rate.set(m.learning_rate)
        self.grad_norm.set(m.grad_norm)
        self.tokens_per_second.set(m.tokens_per_second)
        self.tokens_total.set(m.tokens_total)
        if m.mfu is not None:
            self.mfu.set(m.mfu)
        self.memory.set(m.memory_peak_bytes)


def log_line(m: StepMetrics, device: str) -> str:
    """One readable line per interval."""
    mfu = f"MFU {m.mfu:.1%} of dense bf16 peak" if m.mfu is not None else "MFU n/a (no peak for this device)"
    return (
        f"step {m.step}/{m.total_steps} | loss {m.loss:.4f} | lr {m.learning_rate:.3e} | grad norm {m.grad_norm:.3f}"
        f" | {m.tokens_per_second:,.0f} tok/s ({m.tokens_per_second_per_device:,.0f}/device, {device})"
        f" | {mfu} | peak mem {m.memory_peak_bytes / 2**30:.2f} GiB | data {m.data_loading_share:.1%}"
    )


class MetricsFile:
    """One JSON object per logged step, for analysis after the run."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path

    def write(self, record: dict[str, object]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def write_step(self, m: StepMetrics) -> None:
        self.write({"kind": "train", **asdict(m)})
