"""`spec` of an LLMTrainingJob: the gang of pods, what they run, the run policy, and the
cross-field rules over the whole spec (world size, batch split, reserved names).

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
from llmtrain.api.contract import DEFAULT_HANG_TIMEOUT_SECONDS
from llmtrain.api.names import DNS_LABEL_MAX, RESERVED_VOLUME_PREFIX
from llmtrain.api.quantity import CountQuantity, CpuQuantity, SizeQuantity, is_whole_number
from llmtrain.api.trainer import INT32_MAX, TrainerConfig

DEFAULT_MASTER_PORT = 29500
DEFAULT_TERMINATION_GRACE_SECONDS = 120
"""Long enough for a checkpoint of a mid-sized model to a network volume; Kubernetes' 30 s is not."""
DEFAULT_STARTUP_TIMEOUT_SECONDS = 3600
DEFAULT_STRAGGLER_FACTOR = 1.5
"""A rank 1.5x slower than the others costs a synchronous job a third of its throughput."""
MAX_LIST_ITEMS = 128
"""Bound on user lists: the API server needs one to cost the CEL rules that walk them."""
MAX_EXTRA_RESOURCES = 16
"""Bound on resources.extra, for the same reason."""
MAX_NODES = 4096

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
    """A Kubernetes volume source without a name, e.g. persistentVolumeClaim: {claimName: ckpt}; an emptyDir (lost with
    the pod) when unset."""
    path: str = Field(default="/checkpoints", pattern=r"^/")
    """Mount path inside the pods; each job keeps its checkpoints in <path>/<namespace>/<job name>, so jobs can share a
    volume."""


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
    """OnFailure: retry after any failure (see recovery); ExitCode: exit codes 1-127 are permanent, 128-255 and
    evictions are retried by restarting the whole gang; Never: the first failure fails the job."""
    recovery: Literal["InPlace", "Gang"] | None = None
    """How an OnFailure job recovers when a training process dies or raises. InPlace (the default with the built-in
    trainer): torchrun restarts the training processes inside the running pods, and every rank resumes from the latest
    checkpoint; a pod that is lost or exits still restarts the whole gang. Gang (the default, and the only choice, for
    a custom command): every failure deletes all pods and starts a new attempt."""
    backoff_limit: int = Field(default=3, ge=0, le=INT32_MAX)
    """Restarts allowed, in place and of the whole gang together, before the job fails with BackoffLimitExceeded."""
    active_deadline_seconds: int | None = Field(default=None, ge=1, le=INT32_MAX)
    """Fail the job with DeadlineExceeded after it has run this long."""
    ttl_seconds_after_finished: int | None = Field(default=None, ge=0, le=INT32_MAX)
    """Delete the job this long after it succeeded or failed."""
    clean_pod_policy: Literal["Running", "All", "None"] = "Running"
    """Pods deleted when the job ends: Running (those still running), All, or None."""
    suspend: bool = False
    """true stops the pods and keeps the job; false again starts a new attempt that resumes from the checkpoint."""
    hang_timeout_seconds: int | None = Field(default=None, ge=1, le=INT32_MAX)
    """Built-in trainer only (default 1800): restart the gang with reason Hung when the step has not advanced for this
    long, and the timeout of the trainer's collectives, so that one that hangs raises and restarts in place."""
    startup_timeout_seconds: int | None = Field(default=None, ge=1, le=INT32_MAX)
    """Built-in trainer only (default 3600): restart the gang with reason Hung when an attempt has not finished its
    first step this long after all its pods run (imports, loading the checkpoint, preparing the data)."""
    straggler_factor: float | None = Field(default=None, ge=1.1, le=100)
    """Built-in trainer only (default 1.5): report a rank whose forward passes took at least this many times the median
    of the other ranks' over the last 50 steps (status.stragglers, a Straggler event)."""
    termination_grace_period_seconds: int = Field(default=DEFAULT_TERMINATION_GRACE_SECONDS, ge=0, le=86400)
    """Seconds a pod has after SIGTERM (job deleted or suspended, node drained) before it is killed: the built-in
    trainer saves a checkpoint in that time. A save cut short is discarded, never resumed from. Pods of a failed
    attempt are stopped at once: their gang cannot save."""


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


# --- cross-field rules of the spec --------------------------------------------------
# Each written twice on purpose (see `llmtrain.api.base`): as CEL for the API server and
# as Python for the SDK, with one message; tests/support/validation_cases.py, run against both the
# models and the real API server, proves that the two agree.

RESERVED_ENV_PREFIXES = ("PET_", "LLMTRAIN_")
"""torchrun's variables and the operator's (`llmtrain.api.contract`): a job may not set them."""

# Messages use format(): concatenating string(int) makes the API server's cost estimate
# unbounded and it refuses the CRD.
# CEL for the values the defaults give when a field is left out; the API server applies
# no defaults from this CRD, so every rule reads optional fields through has().
_NODES = "(has(self.nodes) ? self.nodes : 1)"
_PROCS = (
    "(has(self.procsPerNode) ? self.procsPerNode : "
    "((has(self.resources) && has(self.resources.gpus) && self.resources.gpus > 0) ? self.resources.gpus : 1))"
)
_WORLD = f"({_NODES} * {_PROCS})"
_TP = (
    "((has(self.trainer.parallelism) && has(self.trainer.parallelism.tensorParallel)) "
    "? self.trainer.parallelism.tensorParallel : 1)"
)
_MICRO = "((has(self.trainer.batch) && has(self.trainer.batch.microBatchSize)) ? self.trainer.batch.microBatchSize : 8)"
_GLOBAL = "self.trainer.batch.globalBatchSize"
_HAS_GLOBAL = "(has(self.trainer) && has(self.trainer.batch) && has(self.trainer.batch.globalBatchSize))"


SpecRule = Rule
"""A rule over `spec`: `path` and `reads` are relative to `spec`; `check` takes the spec."""

# The inputs of the rules that compute the world size and the batch split; a rule is
# judged only when these are valid (see `Rule.reads`).
_SHAPE = ("nodes", "procsPerNode", "resources.gpus")
_PARALLEL = (*_SHAPE, "trainer.parallelism.tensorParallel")


def _exactly_one_workload(spec: LLMTrainingJobSpec) -> str | None:
    if (spec.trainer is None) == (spec.command is None):
        return TRAINER_OR_COMMAND.cel.message
    return None


TRAINER_OR_COMMAND = SpecRule(
    cel=CelRule(
        rule="has(self.trainer) != has(self.command)",
        message="set exactly one of trainer (the built-in trainer) and command (your own script under torchrun)",
    ),
    path="",
    check=_exactly_one_workload,
    reads=("trainer", "command"),
)


def _tensor_parallel_divides(spec: LLMTrainingJobSpec) -> str | None:
    if spec.trainer is None:
        return None
    tp = spec.trainer.parallelism.tensor_parallel
    if spec.world_size % tp:
        return f"{tp} does not divide nodes x procsPerNode = {spec.world_size}"
    return None


TENSOR_PARALLEL_DIVIDES = SpecRule(
    cel=CelRule(
        rule=f"!has(self.trainer) || {_WORLD} % {_TP} == 0",
        message="tensorParallel must divide nodes x procsPerNode",
        message_expression=f"'%d does not divide nodes x procsPerNode = %d'.format([{_TP}, {_WORLD}])",
        field_path=".trainer.parallelism.tensorParallel",
    ),
    path="trainer.parallelism.tensorParallel",
    check=_tensor_parallel_divides,
    reads=(*_SHAPE, "trainer.parallelism.tensorParallel"),
)


def _global_batch_divides(spec: LLMTrainingJobSpec) -> str | None:
    if spec.trainer is None or spec.trainer.batch.global_batch_size is None:
        return None
    tp = spec.trainer.parallelism.tensor_parallel
    if spec.world_size % tp:
        return None
    micro = spec.trainer.batch.micro_batch_size
    data_parallel = spec.world_size // tp
    global_batch = spec.trainer.batch.global_batch_size
    if global_batch % (micro * data_parallel):
        return f"{global_batch} is not a multiple of microBatchSize x data-parallel size = {micro} x {data_parallel}"
    return None


GLOBAL_BATCH_DIVIDES = SpecRule(
    cel=CelRule(
        rule=(f"!{_HAS_GLOBAL} || {_WORLD} % {_TP} != 0 || {_GLOBAL} % ({_MICRO} * ({_WORLD} / {_TP})) == 0"),
        message="globalBatchSize must be a multiple of microBatchSize x data-parallel size",
        message_expression=(
            "'%d is not a multiple of microBatchSize x data-parallel size = %d x %d'"
            f".format([{_GLOBAL}, {_MICRO}, {_WORLD} / {_TP}])"
        ),
        field_path=".trainer.batch.globalBatchSize",
    ),
    path="trainer.batch.globalBatchSize",
    check=_global_batch_divides,
    reads=(*_PARALLEL, "trainer.batch.microBatchSize", "trainer.batch.globalBatchSize"),
)


def _nodes_within_elastic(spec: LLMTrainingJobSpec) -> str | None:
    elastic = spec.elastic
    if elastic is None or elastic.min_nodes <= spec.nodes <= elastic.max_nodes:
        return None
    return f"{spec.nodes} is outside elastic.minNodes..maxNodes = {elastic.min_nodes}..{elastic.max_nodes}"


NODES_WITHIN_ELASTIC = SpecRule(
    cel=CelRule(
        rule=f"!has(self.elastic) || (self.elastic.minNodes <= {_NODES} && {_NODES} <= self.elastic.maxNodes)",
        message="nodes must lie within elastic.minNodes..maxNodes",
        message_expression=(
            "'%d is outside elastic.minNodes..maxNodes = %d..%d'"
            f".format([{_NODES}, self.elastic.minNodes, self.elastic.maxNodes])"
        ),
        field_path=".nodes",
    ),
    path="nodes",
    check=_nodes_within_elastic,
    reads=("nodes", "elastic.minNodes", "elastic.maxNodes"),
)


def _mounts_name_volumes(spec: LLMTrainingJobSpec) -> str | None:
    declared = {volume.name for volume in spec.volumes or ()}
    if any(mount.name not in declared for mount in spec.volume_mounts or ()):
        return MOUNTS_NAME_VOLUMES.cel.message
    return None


MOUNTS_NAME_VOLUMES = SpecRule(
    cel=CelRule(
        rule=(
            "!has(self.volumeMounts) || self.volumeMounts.all(m, "
            "has(self.volumes) && self.volumes.exists(v, v.name == m.name))"
        ),
        message="every volumeMounts[].name must be the name of an entry in volumes",
        field_path=".volumeMounts",
    ),
    path="volumeMounts",
    check=_mounts_name_volumes,
    reads=("volumes", "volumeMounts"),
)


def _env_not_reserved(spec: LLMTrainingJobSpec) -> str | None:
    if any(var.name.startswith(RESERVED_ENV_PREFIXES) for var in spec.env or ()):
        return ENV_NOT_RESERVED.cel.message
    return None


ENV_NOT_RESERVED = SpecRule(
    cel=CelRule(
        rule="!has(self.env) || self.env.all(e, "
        + " && ".join(f"!e.name.startsWith('{prefix}')" for prefix in RESERVED_ENV_PREFIXES)
        + ")",
        message=" and ".join(f"{prefix}*" for prefix in RESERVED_ENV_PREFIXES)
        + " variables are set by the operator; give yours another name",
        field_path=".env",
    ),
    path="env",
    check=_env_not_reserved,
    reads=("env",),
)


def _volumes_not_reserved(spec: LLMTrainingJobSpec) -> str | None:
    if any(volume.name.startswith(RESERVED_VOLUME_PREFIX) for volume in spec.volumes or ()):
        return VOLUMES_NOT_RESERVED.cel.message
    return None


VOLUMES_NOT_RESERVED = SpecRule(
    cel=CelRule(
        rule=f"!has(self.volumes) || self.volumes.all(v, !v.name.startsWith('{RESERVED_VOLUME_PREFIX}'))",
        message=f"volume names starting with {RESERVED_VOLUME_PREFIX} are reserved for the operator; rename the volume",
        field_path=".volumes",
    ),
    path="volumes",
    check=_volumes_not_reserved,
    reads=("volumes",),
)


def _in_place_recovery_possible(spec: LLMTrainingJobSpec) -> str | None:
    policy = spec.run_policy
    if policy.recovery == "InPlace" and (spec.trainer is None or policy.restart_policy != "OnFailure"):
        return IN_PLACE_RECOVERY_POSSIBLE.cel.message
    return None


IN_PLACE_RECOVERY_POSSIBLE = SpecRule(
    cel=CelRule(
        rule=(
            "!has(self.runPolicy) || !has(self.runPolicy.recovery) || self.runPolicy.recovery != 'InPlace' || "
            "(has(self.trainer) && (!has(self.runPolicy.restartPolicy) || self.runPolicy.restartPolicy == 'OnFailure'))"
        ),
        message=(
            "recovery InPlace needs the built-in trainer (spec.trainer) and restartPolicy OnFailure; "
            "use Gang, or leave recovery unset"
        ),
        field_path=".runPolicy.recovery",
    ),
    path="runPolicy.recovery",
    check=_in_place_recovery_possible,
    reads=("trainer", "command", "runPolicy.recovery", "runPolicy.restartPolicy"),
)


def _timeouts_need_the_trainer(spec: LLMTrainingJobSpec) -> str | None:
    policy = spec.run_policy
    if spec.command is not None and (
        policy.hang_timeout_seconds or policy.startup_timeout_seconds or policy.straggler_factor
    ):
        return TIMEOUTS_NEED_THE_TRAINER.cel.message
    return None


TIMEOUTS_NEED_THE_TRAINER = SpecRule(
    cel=CelRule(
        rule=(
            "!has(self.command) || !has(self.runPolicy) || (!has(self.runPolicy.hangTimeoutSeconds) && "
            "!has(self.runPolicy.startupTimeoutSeconds) && !has(self.runPolicy.stragglerFactor))"
        ),
        message=(
            "hangTimeoutSeconds, startupTimeoutSeconds and stragglerFactor watch the built-in trainer's steps; "
            "a custom command reports none: remove them"
        ),
        field_path=".runPolicy",
    ),
    path="runPolicy",
    check=_timeouts_need_the_trainer,
    reads=("command", "runPolicy.hangTimeoutSeconds", "runPolicy.startupTimeoutSeconds", "runPolicy.stragglerFactor"),
)

SPEC_RULES: tuple[SpecRule, ...] = (
    TRAINER_OR_COMMAND,
    TENSOR_PARALLEL_DIVIDES,
    GLOBAL_BATCH_DIVIDES,
    NODES_WITHIN_ELASTIC,
    MOUNTS_NAME_VOLUMES,
    ENV_NOT_RESERVED,
    VOLUMES_NOT_RESERVED,
    IN_PLACE_RECOVERY_POSSIBLE,
    TIMEOUTS_NEED_THE_TRAINER,
)


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
    """Size of /dev/shm, a memory-backed emptyDir (NCCL and data loaders need more than the container default of 64Mi),
    more than zero; unset means bounded only by the pod's memory."""
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
    def hang_timeout(self) -> int | None:
        """Seconds without a new step before the job counts as hung; None without the built-in trainer."""
        if self.trainer is None:
            return None
        return self.run_policy.hang_timeout_seconds or DEFAULT_HANG_TIMEOUT_SECONDS

    @property
    def straggler_factor(self) -> float | None:
        """How many times slower than the median of the others a rank is reported; None without the built-in trainer."""
        if self.trainer is None:
            return None
        return self.run_policy.straggler_factor or DEFAULT_STRAGGLER_FACTOR

    @property
    def startup_timeout(self) -> int | None:
        """Seconds from all pods running to the first step; None without the built-in trainer."""
        if self.trainer is None:
            return None
        return self.run_policy.startup_timeout_seconds or DEFAULT_STARTUP_TIMEOUT_SECONDS

    @property
    def recovers_in_place(self) -> bool:
        """Failed training processes restart inside the running pods (runPolicy.recovery)."""
        policy = self.run_policy
        if policy.restart_policy != "OnFailure" or self.trainer is None:
            return False
        return policy.recovery != "Gang"

    @property
    def world_size(self) -> int:
        """Processes in the whole gang."""
        return self.nodes * self.effective_procs_per_node
