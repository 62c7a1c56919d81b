"""The run's inputs: the trainer config file and the environment the operator sets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from llmtrain.api.contract import (
    DEFAULT_METRICS_PORT,
    ENV_ATTEMPT,
    ENV_CHECKPOINT_DIR,
    ENV_JOB_NAME,
    ENV_JOB_NAMESPACE,
    ENV_JOB_UID,
    ENV_METRICS_PORT,
)
from llmtrain.api.errors import one_line
from llmtrain.api.trainer import TrainerConfig
from pydantic import ValidationError

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

    @staticmethod
    def from_environ(environ: Mapping[str, str], config: TrainerConfig) -> RunEnv:
        """LLMTRAIN_CHECKPOINT_DIR wins over checkpoint.dir; metrics bind to POD_IP when set."""
        checkpoint_dir = environ.get(ENV_CHECKPOINT_DIR) or config.checkpoint.dir
        try:
            attempt = int(environ.get(ENV_ATTEMPT, "0"))
            port = int(environ.get(ENV_METRICS_PORT, str(DEFAULT_METRICS_PORT)))
        except ValueError as e:
            raise TrainerError(f"bad {ENV_ATTEMPT} or {ENV_METRICS_PORT}: {e}") from e
        name = environ.get(ENV_JOB_NAME, "local")
        uid = environ.get(ENV_JOB_UID)
        return RunEnv(
            job_name=name,
            attempt=attempt,
            checkpoint_dir=Path(checkpoint_dir) if checkpoint_dir else None,
            metrics_port=port,
            metrics_address=environ.get("POD_IP") or "0.0.0.0",
            owner=Owner(environ.get(ENV_JOB_NAMESPACE, "default"), name, uid) if uid else None,
        )
