"""llmtrain: the Python SDK and CLI of LLMTrainingJob.

from llmtrain import LLMTrainingJob, TrainingClient

job = LLMTrainingJob.pretrain("gpt-small", model="llama-1b", data="/data/tokens/*.bin", nodes=4, gpus=8)
TrainingClient().create(job)

The names below load on first use (PEP 562): the trainer, which imports the config models,
and the CLI's quick commands do not pay for the Kubernetes client and the job models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmtrain.api.errors import InvalidJobError
    from llmtrain.api.job import LLMTrainingJob
    from llmtrain.client import (
        ApiError,
        ClientError,
        ClusterUnreachable,
        ConfigError,
        CRDNotInstalled,
        JobEvent,
        JobExists,
        JobFailed,
        JobNotFound,
        JobRejected,
        LogLine,
        PermissionDenied,
        TrainingClient,
        WaitTimeout,
    )

__version__ = "0.1.0"

_EXPORTED_FROM = {
    "InvalidJobError": "llmtrain.api.errors",
    "LLMTrainingJob": "llmtrain.api.job",
    "ApiError": "llmtrain.client",
    "ClientError": "llmtrain.client",
    "ClusterUnreachable": "llmtrain.client",
    "ConfigError": "llmtrain.client",
    "CRDNotInstalled": "llmtrain.client",
    "JobEvent": "llmtrain.client",
    "JobExists": "llmtrain.client",
    "JobFailed": "llmtrain.client",
    "JobNotFound": "llmtrain.client",
    "JobRejected": "llmtrain.client",
    "LogLine": "llmtrain.client",
    "PermissionDenied": "llmtrain.client",
    "TrainingClient": "llmtrain.client",
    "WaitTimeout": "llmtrain.client",
}

__all__ = [
    "ApiError",
    "CRDNotInstalled",
    "ClientError",
    "ClusterUnreachable",
    "ConfigError",
    "InvalidJobError",
    "JobEvent",
    "JobExists",
    "JobFailed",
    "JobNotFound",
    "JobRejected",
    "LLMTrainingJob",
    "LogLine",
    "PermissionDenied",
    "TrainingClient",
    "WaitTimeout",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTED_FROM.get(name)
    if module is None:
        raise AttributeError(f"module 'llmtrain' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return [*globals(), *__all__]
