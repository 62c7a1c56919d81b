"""Names and labels of the objects a job owns (fixed by DESIGN.md)."""

from __future__ import annotations

OPERATOR_NAME = "llmtrain-operator"
MANAGED_BY = "app.kubernetes.io/managed-by"
JOB_NAME = "llmtrain.dev/job-name"
NODE_RANK = "llmtrain.dev/node-rank"
ATTEMPT = "llmtrain.dev/attempt"

CONFIG_MOUNT_DIR = "/etc/llmtrain"
CONFIG_FILE = "config.json"
TRAINER_CONTAINER = "trainer"
SHM_VOLUME = "llmtrain-shm"
CONFIG_VOLUME = "llmtrain-config"
CHECKPOINT_VOLUME = "llmtrain-checkpoint"


def pod_name(job: str, rank: int) -> str:
    """`<job>-node-<rank>`."""
    return f"{job}-node-{rank}"


def config_map_name(job: str) -> str:
    """`<job>-config`."""
    return f"{job}-config"


def master_address(job: str, namespace: str) -> str:
    """DNS name of node 0 through the job's headless Service."""
    return f"{pod_name(job, 0)}.{job}.{namespace}.svc"


def job_labels(job: str) -> dict[str, str]:
    """Labels every child of the job carries."""
    return {MANAGED_BY: OPERATOR_NAME, JOB_NAME: job}


def pod_labels(job: str, rank: int, attempt: int) -> dict[str, str]:
    """Labels of one pod of one attempt."""
    return {**job_labels(job), NODE_RANK: str(rank), ATTEMPT: str(attempt)}
