"""Names and labels of the objects a job owns (docs/design.md), and the Kubernetes limits
they live within. The operator names and labels what it creates with these; the SDK, the
chart's tests and the CLI find a job's pods by them. Each name is defined here once.
"""

from __future__ import annotations

import re

OPERATOR_NAME = "llmtrain-operator"
MANAGED_BY = "app.kubernetes.io/managed-by"
JOB_NAME = "llmtrain.dev/job-name"
NODE_RANK = "llmtrain.dev/node-rank"
ATTEMPT = "llmtrain.dev/attempt"

DNS_LABEL_MAX = 63
"""Kubernetes' bound on a DNS label: a Service name, a pod's hostname, a volume name."""
DNS_1035_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
POD_NAME_SUFFIX = "-node-"
"""Between the job name and the node rank in a pod's name."""

CONFIG_MOUNT_DIR = "/etc/llmtrain"
CONFIG_FILE = "config.json"
CONFIG_PATH = f"{CONFIG_MOUNT_DIR}/{CONFIG_FILE}"
"""Where the trainer reads `spec.trainer` (from the job's ConfigMap)."""
TRAINER_CONTAINER = "trainer"
RESERVED_VOLUME_PREFIX = "llmtrain-"
"""The operator's own volumes start with it; a job's volumes may not."""
SHM_VOLUME = f"{RESERVED_VOLUME_PREFIX}shm"
CONFIG_VOLUME = f"{RESERVED_VOLUME_PREFIX}config"
CHECKPOINT_VOLUME = f"{RESERVED_VOLUME_PREFIX}checkpoint"


def pod_name(job: str, rank: int) -> str:
    """`<job>-node-<rank>`."""
    return f"{job}{POD_NAME_SUFFIX}{rank}"


def is_pod_of(job: str, name: str) -> bool:
    """Whether `name` is the name of one of the job's pods."""
    return re.fullmatch(rf"{re.escape(job + POD_NAME_SUFFIX)}\d+", name) is not None


def config_map_name(job: str) -> str:
    """`<job>-config`."""
    return f"{job}-config"


def service_name(job: str) -> str:
    """The job's headless Service (and PodGroup): the job's own name."""
    return job


def pod_address(job: str, namespace: str, rank: int) -> str:
    """The DNS name of a rank's pod through the job's headless Service."""
    return f"{pod_name(job, rank)}.{service_name(job)}.{namespace}.svc"


def master_address(job: str, namespace: str) -> str:
    """DNS name of node 0 through the job's headless Service."""
    return pod_address(job, namespace, 0)


def job_labels(job: str) -> dict[str, str]:
    """Labels every child of the job carries."""
    return {MANAGED_BY: OPERATOR_NAME, JOB_NAME: job}


def pod_labels(job: str, rank: int, attempt: int) -> dict[str, str]:
    """Labels of one pod of one attempt."""
    return {**job_labels(job), NODE_RANK: str(rank), ATTEMPT: str(attempt)}


def pod_selector(job: str, rank: int | None = None) -> str:
    """The label selector of the job's pods, or of one rank's."""
    return f"{JOB_NAME}={job}" + (f",{NODE_RANK}={rank}" if rank is not None else "")
