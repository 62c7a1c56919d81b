"""Operator settings, read once from environment variables (the chart sets them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from llmtrain.api.contract import DEFAULT_METRICS_PORT
from llmtrain.api.envsettings import EnvSettings, read_settings
from llmtrain_operator import __version__

Port = Annotated[int, Field(ge=1, le=65535)]
"""A TCP port."""


class OperatorSettings(EnvSettings):
    """How the operator behaves; every field has an environment variable, LLMTRAIN_ and
    its name in capitals (an empty variable counts as unset)."""

    model_config = SettingsConfigDict(env_prefix="LLMTRAIN_", env_ignore_empty=True, frozen=True)

    default_image: str = f"llmtrain/trainer:{__version__}"
    """LLMTRAIN_DEFAULT_IMAGE: image of jobs that name none."""
    gpu_resource: str = "nvidia.com/gpu"
    """LLMTRAIN_GPU_RESOURCE: extended resource that spec.resources.gpus is requested under."""
    namespaces: Annotated[tuple[str, ...], NoDecode] = ()
    """LLMTRAIN_NAMESPACES: comma-separated namespaces to watch; empty watches the whole cluster."""
    scrape_interval_seconds: float = Field(default=10.0, gt=0, allow_inf_nan=False)
    """LLMTRAIN_SCRAPE_INTERVAL_SECONDS: how often rank 0's metrics are read and every job is re-checked."""
    reconcile_workers: int = Field(default=16, ge=1, le=256)
    """LLMTRAIN_RECONCILE_WORKERS: jobs reconciled at once (each by one worker at a time), and
    pods created at once; their API calls block a thread each, so a slow API server does not
    stall the rest."""
    trainer_metrics_port: Port = DEFAULT_METRICS_PORT
    """LLMTRAIN_TRAINER_METRICS_PORT: port of rank 0's /metrics inside the training pods."""
    metrics_port: Port = 8080
    """LLMTRAIN_METRICS_PORT: port of the operator's own Prometheus metrics."""
    health_port: Port = 8081
    """LLMTRAIN_HEALTH_PORT: port of kopf's liveness endpoint /healthz."""
    peering: str = ""
    """LLMTRAIN_PEERING: kopf peering object shared by replicas; empty runs standalone."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """LLMTRAIN_LOG_LEVEL: DEBUG, INFO, WARNING or ERROR (any case)."""
    log_format: Literal["json", "plain"] = "json"
    """LLMTRAIN_LOG_FORMAT: json (one object per line, for log collectors) or plain (any case)."""

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split_namespaces(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(ns.strip() for ns in value.split(",") if ns.strip())
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OperatorSettings:
        """Settings from `env` (os.environ when None); a bad value is a ValueError that names
        the variable, its value and what it allows."""
        return read_settings(cls, env)
