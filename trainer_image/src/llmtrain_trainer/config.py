"""The run's inputs: the trainer config file and the environment the operator sets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import SettingsConfigDict

from llmtrain.api.contract import (
    DEFAULT_HANG_TIMEOUT_SECONDS,
    DEFAULT_METRICS_PORT,
    ENV_ATTEMPT,
    ENV_CHECKPOINT_DIR,
    ENV_HANG_TIMEOUT,
    ENV_JOB_NAME,
    ENV_JOB_NAMESPACE,
    ENV_JOB_UID,
    ENV_METRICS_PORT,
    ENV_RESTARTS_IN_PLACE,
)
from llmtrain.api.envsettings import EnvSettings, read_settings
from llmtrain.api.errors import one_line
from llmtrain.api.trainer import TrainerConfig
from llmtrain_trainer.checkpoint import Owner
from llmtrain_trainer.errors import TrainerError


def load_config(path: Path) -> TrainerConfig:
    """Read and validate `spec.trainer` as the operator wrote it (camelCase JSON)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise TrainerError(f"cannot read config {path}: {e}") from e
    try:
        return TrainerConfig.model_validate(raw)
    except ValidationError as e:
        raise TrainerError(f"invalid config {path}: {one_line(e, TrainerConfig)}") from e


@dataclass(frozen=True)
class RunEnv:
    """What the operator tells the trainer through the environment (llmtrain.api.contract)."""

    job_name: str
    attempt: int
    checkpoint_dir: Path | None
    metrics_port: int
    metrics_address: str
    owner: Owner | None = None
    """The job that owns checkpoint_dir; None outside a cluster, where nothing is checked."""
    restarts_in_place: int = 0
    """The job's training-process restarts before this attempt's pods were made."""
    collective_timeout_seconds: int = DEFAULT_HANG_TIMEOUT_SECONDS
    """How long a collective may wait before it raises (runPolicy.hangTimeoutSeconds)."""

    @staticmethod
    def from_environ(environ: Mapping[str, str], config: TrainerConfig) -> RunEnv:
        """LLMTRAIN_CHECKPOINT_DIR wins over checkpoint.dir; metrics bind to POD_IP when set."""
        try:
            env = read_settings(TrainerEnvironment, environ)
        except ValueError as e:
            raise TrainerError(f"bad environment: {e}") from e
        checkpoint_dir = env.checkpoint_dir or config.checkpoint.dir
        return RunEnv(
            job_name=env.job_name,
            attempt=env.attempt,
            checkpoint_dir=Path(checkpoint_dir) if checkpoint_dir else None,
            metrics_port=env.metrics_port,
            metrics_address=env.pod_ip or "0.0.0.0",
            owner=Owner(env.job_namespace, env.job_name, env.job_uid) if env.job_uid else None,
            restarts_in_place=env.restarts_in_place,
            collective_timeout_seconds=env.hang_timeout_seconds,
        )


class TrainerEnvironment(EnvSettings):
    """The variables the operator sets in a training container (llmtrain.api.contract); an
    empty one counts as unset. Outside a cluster none is needed."""

    model_config = SettingsConfigDict(env_ignore_empty=True, frozen=True)

    job_name: str = Field(default="local", validation_alias=ENV_JOB_NAME)
    job_namespace: str = Field(default="default", validation_alias=ENV_JOB_NAMESPACE)
    job_uid: str | None = Field(default=None, validation_alias=ENV_JOB_UID)
    attempt: int = Field(default=0, ge=0, validation_alias=ENV_ATTEMPT)
    checkpoint_dir: str | None = Field(default=None, validation_alias=ENV_CHECKPOINT_DIR)
    metrics_port: int = Field(default=DEFAULT_METRICS_PORT, ge=0, le=65535, validation_alias=ENV_METRICS_PORT)
    """0 lets the system pick a free port."""
    restarts_in_place: int = Field(default=0, ge=0, validation_alias=ENV_RESTARTS_IN_PLACE)
    hang_timeout_seconds: int = Field(default=DEFAULT_HANG_TIMEOUT_SECONDS, ge=1, validation_alias=ENV_HANG_TIMEOUT)
    pod_ip: str | None = Field(default=None, validation_alias="POD_IP")
    """The pod's IP (downward API), the address the metrics bind to; all addresses when unset."""
