"""`spec` of an LLMTrainingJob: the gang of pods, what they run, and the run policy.

Kubernetes objects that are passed through to the pods (EnvVar, Volume, VolumeMount,
Toleration, Affinity, security contexts) are the official client's own models, so their
schema is Kubernetes' schema, not a copy of it.
"""

from __future__ import annotations

from typing import Literal

from kubernetes.client import (
    V1Affinity,
    V1EnvVar,
    V1LocalObjectReference,
    V1PodSecurityContext,
    V1SecurityContext,
    V1Toleration,
    V1Volume,
    V1VolumeMount,
)
from pydantic import Field

from llmtrain.api.base import ApiModel, CelRule, Rule
from llmtrain.api.quantity import CountQuantity, CpuQuantity, SizeQuantity, is_whole_number
from llmtrain.api.rules import SPEC_RULES
from llmtrain.api.trainer import TrainerConfig

DEFAULT_MASTER_PORT = 29500
DEFAULT_TERMINATION_GRACE_SECONDS = 120
"""Long enough for a checkpoint of a mid-sized model to a network volume; Kubernetes' 30 s is not."""
MAX_LIST_ITEMS = 128
"""Bound on user lists: the API server needs one to cost the CEL rules that walk them."""
MAX_EXTRA_RESOURCES = 16
"""Bound on resources.extra, for the same reason."""
MAX_NODES = 4096
INT32_MAX = 2**31 - 1
"""Kubernetes keeps counts and durations in 32 bits (PodGroup's scheduleTimeoutSeconds, Job's
ttlSecondsAfterFinished); no count or number of seconds here goes higher."""

EXTENDED_RESOURCES_ARE_WHOLE = CelRule(
    # Judged, as in Python, only when every amount is a valid quantity of 0 or more.
    rule=(
        "!has(self.extra) || !self.extra.all(name, isQuantity(string(self.extra[name])) && "
        "quantity(string(self.extra[name])).compareTo(quantity('0')) >= 0) || "
        "self.extra.all(name, !name.contains('/') || quantity(string(self.extra[name])).isInteger())"
    ),
    message="extended resources (names with a domain, such as rdma/ib) are counted in whole numbers, e.g. rdma/ib: 1",
    field_path=".extra",
)


def _extended_resources_are_whole(resources: Resources) -> str | None:
    for name, amount in (resources.extra or {}).items():
        if "/" in name and not is_whole_number(amount):
            return EXTENDED_RESOURCES_ARE_WHOLE.message
    return None


class Resources(ApiModel):
    """Compute resources of each pod (requests = limits)."""

    rules = (Rule(EXTENDED_RESOURCES_ARE_WHOLE, _extended_resources_are_whole, path="extra", reads=("extra",)),)

    gpus: int = Field(default=0, ge=0, le=64)
    """GPUs per pod, requested under the operator's GPU resource name (nvidia.com/gpu by default)."""
    cpu: CpuQuantity | None = None
    """CPU per pod, e.g. "32" or 500m; 0 or more."""
    memory: SizeQuantity | None = None
    """Memory per pod, e.g. 400Gi; more than zero (unset: no memory request or limit)."""
    extra: dict[str, CountQuantity] | None = Field(default=None, max_length=MAX_EXTRA_RESOURCES)
    """Other extended resources per pod, e.g. rdma/ib: 1; 0 or more, whole numbers for names with a domain."""


DNS_LABEL_MAX = 63


class Volume(V1Volume):
    """A Kubernetes Volume; its name is a DNS label, as Kubernetes requires."""

    name: str = Field(max_length=DNS_LABEL_MAX, description="Volume name, a DNS label unique within the pod.")


class VolumeMount(V1VolumeMount):
    """A Kubernetes VolumeMount of one of the job's volumes."""

    name: str = Field(max_length=DNS_LABEL_MAX, description="Name of the volume to mount.")


class CheckpointVolumeSource(V1Volume):
    """A Kubernetes volume source for checkpoints; the operator names the volume itself."""

    # Optional here (Kubernetes requires it), because the operator names this volume itself.
    name: str | None = Field(  # type: ignore[assignment]
        default=None, description="Not needed: the operator names the checkpoint volume."
    )


class CheckpointStorage(ApiModel):
    """Where checkpoints live: a volume mounted into every pod at one path."""

    volume: CheckpointVolumeSource | None = None
    """A Kubernetes volume source without a name, e.g. persistentVolumeClaim: {claimName: ckpt}; an emptyDir (lost with the pod) when unset."""
    path: str = Field(default="/checkpoints", pattern=r"^/")
    """Mount path inside the pods; each job keeps its checkpoints in <path>/<namespace>/<job name>, so jobs can share a volume."""


class GangScheduling(ApiModel):
    """All-or-nothing scheduling of the job's pods."""

    enabled: bool = False
    """Create a PodGroup so that no pod starts before all of them can."""
    provider: Literal["coscheduling", "volcano"] = "coscheduling"
    """The scheduler that honours the PodGroup: the scheduler-plugins coscheduling plugin, or Volcano."""
    timeout_seconds: int = Field(default=300, ge=1, le=INT32_MAX)
    """How long a partly schedulable gang waits before the scheduler gives its places back."""


class Scheduling(ApiModel):
    """Where the pods may run and who schedules them."""

    node_selector: dict[str, str] | None = None
    """Node labels every pod requires."""
    tolerations: list[V1Toleration] | None = Field(default=None, max_length=MAX_LIST_ITEMS)
    """Taints the pods tolerate (GPU nodes are often tainted)."""
    affinity: V1Affinity | None = None
    """Node and pod affinity, e.g. to keep the gang in one rack."""
    priority_class_name: str | None = None
    """PriorityClass of the pods."""
    scheduler_name: str | None = None
    """Scheduler of the pods; set automatically when gang scheduling needs one."""
    gang: GangScheduling | None = None
    """Gang scheduling."""
    queue_name: str | None = None
    """Kueue LocalQueue to admit the job through."""


class Networking(ApiModel):
    """How the ranks reach each other."""

    host_network: bool = False
    """Run the pods in the node's network namespace (for RDMA/InfiniBand without a CNI for it)."""
    master_port: int = Field(default=DEFAULT_MASTER_PORT, ge=1024, le=65535)
    """torchrun rendezvous port on node 0."""


class RunPolicy(ApiModel):
    """What happens when pods fail, and when the job ends."""

    restart_policy: Literal["OnFailure", "Never", "ExitCode"] = "OnFailure"
    """OnFailure: restart the whole gang after any failure; ExitCode: exit codes 1-127 are permanent, 128-255 and evictions are retried; Never: the first failure fails the job."""
    backoff_limit: int = Field(default=3, ge=0, le=INT32_MAX)
    """Gang restarts allowed before the job fails with BackoffLimitExceeded."""
    active_deadline_seconds: int | None = Field(default=None, ge=1, le=INT32_MAX)
    """Fail the job with DeadlineExceeded after it has run this long."""
    ttl_seconds_after_finished: int | None = Field(default=None, ge=0, le=INT32_MAX)
    """Delete the job this long after it succeeded or failed."""
    clean_pod_policy: Literal["Running", "All", "None"] = "Running"
    """Pods deleted when the job ends: Running (those still running), All, or None."""
    suspend: bool = False
    """true stops the pods and keeps the job; false again starts a new attempt that resumes from the checkpoint."""
    termination_grace_period_seconds: int = Field(default=DEFAULT_TERMINATION_GRACE_SECONDS, ge=0, le=86400)
    """Seconds a pod has after SIGTERM (job deleted or suspended, node drained) before it is killed: the built-in trainer saves a checkpoint in that time. A save cut short is discarded, never resumed from. Pods of a failed attempt are stopped at once: their gang cannot save."""


ELASTIC_BOUNDS_ORDERED = CelRule(
    rule="self.minNodes <= self.maxNodes",
    message="minNodes must not exceed maxNodes",
)


class Elastic(ApiModel):
    """Elastic training with torchrun's c10d rendezvous: the gang may shrink and grow."""

    rules = (
        Rule.holds(
            ELASTIC_BOUNDS_ORDERED,
            lambda elastic: elastic.min_nodes <= elastic.max_nodes,
            reads=("minNodes", "maxNodes"),
        ),
    )

    min_nodes: int = Field(ge=1, le=MAX_NODES)
    """Fewest nodes the job runs with."""
    max_nodes: int = Field(ge=1, le=MAX_NODES)
    """Most nodes the job runs with."""
    max_restarts: int = Field(default=3, ge=0, le=INT32_MAX)
    """torchrun's --max-restarts: membership changes tolerated inside one attempt."""


class PodOverrides(ApiModel):
    """Settings copied onto every pod of the job."""

    labels: dict[str, str] | None = None
    """Extra pod labels."""
    annotations: dict[str, str] | None = None
    """Extra pod annotations."""
    service_account_name: str | None = None
    """ServiceAccount the pods run as."""
    security_context: V1PodSecurityContext | None = None
    """Pod-level security context."""
    container_security_context: V1SecurityContext | None = None
    """Security context of the training container."""
    image_pull_secrets: list[V1LocalObjectReference] | None = Field(default=None, max_length=MAX_LIST_ITEMS)
    """Secrets for pulling the image from a private registry."""
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    """Image pull policy of the training container."""


class LLMTrainingJobSpec(ApiModel):
    """The desired state of a training job."""

    rules = SPEC_RULES

    image: str | None = None
    """Container image of every pod; the operator's default trainer image when unset."""
    nodes: int = Field(default=1, ge=1, le=MAX_NODES)
    """Pods in the gang, one per node (torchrun --nnodes)."""
    procs_per_node: int | None = Field(default=None, ge=1, le=64)
    """Processes per pod (torchrun --nproc-per-node); defaults to resources.gpus, or 1 without GPUs."""
    resources: Resources = Field(default_factory=Resources)
    """Resources of each pod."""
    shm_size: SizeQuantity | None = None
    """Size of /dev/shm, a memory-backed emptyDir (NCCL and data loaders need more than the container default of 64Mi), more than zero; unset means bounded only by the pod's memory."""
    trainer: TrainerConfig | None = None
    """The built-in trainer's configuration (exclusive with command)."""
    command: list[str] | None = Field(default=None, min_length=1, max_length=MAX_LIST_ITEMS)
    """Your own script and arguments, run as torchrun <command...> (exclusive with trainer)."""
    env: list[V1EnvVar] | None = Field(default=None, max_length=MAX_LIST_ITEMS)
    """Extra environment variables (NCCL_*, HF_*, ...); PET_* and LLMTRAIN_* are set by the operator."""
    volumes: list[Volume] | None = Field(default=None, max_length=MAX_LIST_ITEMS)
    """Extra volumes of every pod."""
    volume_mounts: list[VolumeMount] | None = Field(default=None, max_length=MAX_LIST_ITEMS)
    """Mounts of those volumes into the training container."""
    checkpoint: CheckpointStorage = Field(default_factory=CheckpointStorage)
    """Checkpoint storage."""
    scheduling: Scheduling | None = None
    """Placement and scheduling."""
    networking: Networking = Field(default_factory=Networking)
    """Networking between ranks."""
    run_policy: RunPolicy = Field(default_factory=RunPolicy)
    """Failure and end-of-job policy."""
    elastic: Elastic | None = None
    """Elastic membership (torchrun c10d rendezvous)."""
    pod: PodOverrides | None = None
    """Pod labels, annotations, service account, security contexts and pull secrets."""

    @property
    def effective_procs_per_node(self) -> int:
        """Processes per pod once the default is applied."""
        if self.procs_per_node is not None:
            return self.procs_per_node
        return self.resources.gpus or 1

    @property
    def world_size(self) -> int:
        """Processes in the whole gang."""
        return self.nodes * self.effective_procs_per_node
