"""The client of LLMTrainingJobs: `TrainingClient` and the errors it raises."""

from llmtrain.client.errors import (
    ApiError,
    ClientError,
    ClusterUnreachable,
    ConfigError,
    CRDNotInstalled,
    JobExists,
    JobFailed,
    JobNotFound,
    JobRejected,
    PermissionDenied,
    WaitTimeout,
)
from llmtrain.client.events import JobEvent
from llmtrain.client.logs import LogLine
from llmtrain.client.training_client import TrainingClient

__all__ = [
    "ApiError",
    "CRDNotInstalled",
    "ClientError",
    "ClusterUnreachable",
    "ConfigError",
    "JobEvent",
    "JobExists",
    "JobFailed",
    "JobNotFound",
    "JobRejected",
    "LogLine",
    "PermissionDenied",
    "TrainingClient",
    "WaitTimeout",
]
