"""llmtrain: the Python SDK and CLI of LLMTrainingJob.

from llmtrain import LLMTrainingJob, TrainingClient

job = LLMTrainingJob.pretrain("gpt-small", model="llama-1b", data="/data/tokens/*.bin", nodes=4, gpus=8)
TrainingClient().create(job)
"""

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
