"""Operator settings, read once from environment variables (the chart sets them)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from llmtrain.api.contract import DEFAULT_METRICS_PORT

from llmtrain_operator import __version__


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise ValueError(f"{name}={raw!r} must be greater than zero")
    return value


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name) or str(default)
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"{name}={raw!r} is not a TCP port (1-65535)")
    return int(raw)


@dataclass(frozen=True)
class OperatorSettings:
    """How the operator behaves; every field has an environment variable."""

    default_image: str = f"llmtrain/trainer:{__version__}"
    """LLMTRAIN_DEFAULT_IMAGE: image of jobs that name none."""
    gpu_resource: str = "nvidia.com/gpu"
    """LLMTRAIN_GPU_RESOURCE: extended resource that spec.resources.gpus is requested under."""
    namespaces: tuple[str, ...] = ()
    """LLMTRAIN_NAMESPACES: comma-separated namespaces to watch; empty watches the whole cluster."""
    scrape_interval_seconds: float = 10.0
    """LLMTRAIN_SCRAPE_INTERVAL_SECONDS: how often rank 0's metrics are read and every job is re-checked."""
    trainer_metrics_port: int = DEFAULT_METRICS_PORT
    """LLMTRAIN_TRAINER_METRICS_PORT: port of rank 0's /metrics inside the training pods."""
    metrics_port: int = 8080
    """LLMTRAIN_METRICS_PORT: port of the operator's own Prometheus metrics."""
    health_port: int = 8081
    """LLMTRAIN_HEALTH_PORT: port of kopf's liveness endpoint /healthz."""
    peering: str = ""
    """LLMTRAIN_PEERING: kopf peering object shared by replicas; empty runs standalone."""
    log_level: str = "INFO"
    """LLMTRAIN_LOG_LEVEL: DEBUG, INFO, WARNING or ERROR."""
    log_format: str = "json"
    """LLMTRAIN_LOG_FORMAT: json (one object per line, for log collectors) or plain."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OperatorSettings:
        """Settings from the environment; a bad value is an error that names the variable."""
        env = os.environ if env is None else env
        defaults = cls()
        log_level = env.get("LLMTRAIN_LOG_LEVEL", defaults.log_level).upper()
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError(f"LLMTRAIN_LOG_LEVEL={log_level!r} must be DEBUG, INFO, WARNING or ERROR")
        log_format = env.get("LLMTRAIN_LOG_FORMAT", defaults.log_format).lower()
        if log_format not in ("json", "plain"):
            raise ValueError(f"LLMTRAIN_LOG_FORMAT={log_format!r} must be json or plain")
        return cls(
            default_image=env.get("LLMTRAIN_DEFAULT_IMAGE") or defaults.default_image,
            gpu_resource=env.get("LLMTRAIN_GPU_RESOURCE") or defaults.gpu_resource,
            namespaces=tuple(ns.strip() for ns in env.get("LLMTRAIN_NAMESPACES", "").split(",") if ns.strip()),
            scrape_interval_seconds=_positive_float(
                env, "LLMTRAIN_SCRAPE_INTERVAL_SECONDS", defaults.scrape_interval_seconds
            ),
            trainer_metrics_port=_port(env, "LLMTRAIN_TRAINER_METRICS_PORT", defaults.trainer_metrics_port),
            metrics_port=_port(env, "LLMTRAIN_METRICS_PORT", defaults.metrics_port),
            health_port=_port(env, "LLMTRAIN_HEALTH_PORT", defaults.health_port),
            peering=env.get("LLMTRAIN_PEERING", ""),
            log_level=log_level,
            log_format=log_format,
        )
