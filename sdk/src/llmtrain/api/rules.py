"""Cross-field rules of an LLMTrainingJob, each written twice on purpose: as CEL for the
API server (`x-kubernetes-validations` in the generated CRD) and as Python for the SDK.

A rule's Python check returns the same message its CEL `messageExpression` produces, and a
table of good and bad jobs, run against both the models and the real API server, proves
that the two agree. Each rule names the fields it reads (`reads`): both sides judge it only
when those are valid, so that it can be reported together with the errors of other fields
(see `llmtrain.api.base`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from llmtrain.api.base import CelRule, Rule

if TYPE_CHECKING:
    from llmtrain.api.job import LLMTrainingJob
    from llmtrain.api.spec import LLMTrainingJobSpec

POD_NAME_SUFFIX = "-node-"
DNS_LABEL_MAX = 63
DNS_1035_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
RESERVED_ENV_PREFIXES = ("PET_", "LLMTRAIN_")
RESERVED_VOLUME_PREFIX = "llmtrain-"

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
_PP = (
    "((has(self.trainer.parallelism) && has(self.trainer.parallelism.pipelineParallel)) "
    "? self.trainer.parallelism.pipelineParallel : 1)"
)
_MICRO = (
    "((has(self.trainer.batch) && has(self.trainer.batch.microBatchSize)) "
    "? self.trainer.batch.microBatchSize : 8)"
)
_GLOBAL = "self.trainer.batch.globalBatchSize"
_HAS_GLOBAL = "(has(self.trainer) && has(self.trainer.batch) && has(self.trainer.batch.globalBatchSize))"


SpecRule = Rule
"""A rule over `spec`: `path` and `reads` are relative to `spec`; `check` takes the spec."""

# The inputs of the rules that compute the world size and the batch split; a rule is
# judged only when these are valid (see `Rule.reads`).
_SHAPE = ("nodes", "procsPerNode", "resources.gpus")
_PARALLEL = (*_SHAPE, "trainer.parallelism.tensorParallel", "trainer.parallelism.pipelineParallel")


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


def _model_parallel_divides(spec: LLMTrainingJobSpec) -> str | None:
    if spec.trainer is None:
        return None
    tp = spec.trainer.parallelism.tensor_parallel
    model_parallel = tp * spec.trainer.parallelism.pipeline_parallel
    if spec.world_size % tp == 0 and spec.world_size % model_parallel:
        return (
            f"tensorParallel x pipelineParallel = {model_parallel} does not divide "
            f"nodes x procsPerNode = {spec.world_size}"
        )
    return None


MODEL_PARALLEL_DIVIDES = SpecRule(
    cel=CelRule(
        rule=f"!has(self.trainer) || {_WORLD} % {_TP} != 0 || {_WORLD} % ({_TP} * {_PP}) == 0",
        message="tensorParallel x pipelineParallel must divide nodes x procsPerNode",
        message_expression=(
            "'tensorParallel x pipelineParallel = %d does not divide nodes x procsPerNode = %d'"
            f".format([{_TP} * {_PP}, {_WORLD}])"
        ),
        field_path=".trainer.parallelism.pipelineParallel",
    ),
    path="trainer.parallelism.pipelineParallel",
    check=_model_parallel_divides,
    reads=_PARALLEL,
)


def _global_batch_divides(spec: LLMTrainingJobSpec) -> str | None:
    if spec.trainer is None or spec.trainer.batch.global_batch_size is None:
        return None
    parallelism = spec.trainer.parallelism
    model_parallel = parallelism.tensor_parallel * parallelism.pipeline_parallel
    if spec.world_size % model_parallel:
        return None
    micro = spec.trainer.batch.micro_batch_size
    data_parallel = spec.world_size // model_parallel
    global_batch = spec.trainer.batch.global_batch_size
    if global_batch % (micro * data_parallel):
        return (
            f"{global_batch} is not a multiple of microBatchSize x data-parallel size = {micro} x {data_parallel}"
        )
    return None


GLOBAL_BATCH_DIVIDES = SpecRule(
    cel=CelRule(
        rule=(
            f"!{_HAS_GLOBAL} || {_WORLD} % ({_TP} * {_PP}) != 0 || "
            f"{_GLOBAL} % ({_MICRO} * ({_WORLD} / ({_TP} * {_PP}))) == 0"
        ),
        message="globalBatchSize must be a multiple of microBatchSize x data-parallel size",
        message_expression=(
            "'%d is not a multiple of microBatchSize x data-parallel size = %d x %d'"
            f".format([{_GLOBAL}, {_MICRO}, {_WORLD} / ({_TP} * {_PP})])"
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
        rule="!has(self.env) || self.env.all(e, !e.name.startsWith('PET_') && !e.name.startsWith('LLMTRAIN_'))",
        message="PET_* and LLMTRAIN_* variables are set by the operator; give yours another name",
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
        rule="!has(self.volumes) || self.volumes.all(v, !v.name.startsWith('llmtrain-'))",
        message="volume names starting with llmtrain- are reserved for the operator; rename the volume",
        field_path=".volumes",
    ),
    path="volumes",
    check=_volumes_not_reserved,
    reads=("volumes",),
)

SPEC_RULES: tuple[SpecRule, ...] = (
    TRAINER_OR_COMMAND,
    TENSOR_PARALLEL_DIVIDES,
    MODEL_PARALLEL_DIVIDES,
    GLOBAL_BATCH_DIVIDES,
    NODES_WITHIN_ELASTIC,
    MOUNTS_NAME_VOLUMES,
    ENV_NOT_RESERVED,
    VOLUMES_NOT_RESERVED,
)

# Rules on the whole object: only there can CEL see metadata.name.
_HIGHEST_RANK = (
    "((has(self.spec.elastic) ? self.spec.elastic.maxNodes : "
    "(has(self.spec.nodes) ? self.spec.nodes : 1)) - 1)"
)
_NAME_BUDGET = f"({DNS_LABEL_MAX} - {len(POD_NAME_SUFFIX)} - string({_HIGHEST_RANK}).size())"

NAME_IS_DNS_LABEL = CelRule(
    rule=f"self.metadata.name.matches('{DNS_1035_LABEL}')",
    field_path=".metadata.name",
    message=(
        "metadata.name must be a DNS label: lower-case letters, digits and '-', "
        "starting with a letter and ending with a letter or digit"
    ),
)
NAME_LEAVES_ROOM = CelRule(
    rule=f"self.metadata.name.size() <= {_NAME_BUDGET}",
    field_path=".metadata.name",
    message=f"metadata.name is too long for the pod names <name>{POD_NAME_SUFFIX}<rank> (at most {DNS_LABEL_MAX} characters)",
    message_expression=(
        f"'metadata.name may have at most %d characters so that %s{POD_NAME_SUFFIX}%d fits in {DNS_LABEL_MAX}; "
        f"it has %d'.format([{_NAME_BUDGET}, self.metadata.name, {_HIGHEST_RANK}, self.metadata.name.size()])"
    ),
)


def _name_is_dns_label(job: LLMTrainingJob) -> str | None:
    return None if re.match(DNS_1035_LABEL, job.metadata.name) else NAME_IS_DNS_LABEL.message


def _name_leaves_room(job: LLMTrainingJob) -> str | None:
    name, spec = job.metadata.name, job.spec
    highest_rank = (spec.elastic.max_nodes if spec.elastic else spec.nodes) - 1
    budget = DNS_LABEL_MAX - len(POD_NAME_SUFFIX) - len(str(highest_rank))
    if len(name) > budget:
        return (
            f"metadata.name may have at most {budget} characters so that "
            f"{name}{POD_NAME_SUFFIX}{highest_rank} fits in {DNS_LABEL_MAX}; it has {len(name)}"
        )
    return None


NAME_RULES: tuple[Rule, ...] = (
    Rule(NAME_IS_DNS_LABEL, _name_is_dns_label, path="metadata.name"),
    Rule(NAME_LEAVES_ROOM, _name_leaves_room, path="metadata.name", reads=("spec.nodes", "spec.elastic.maxNodes")),
)
"""The rules on the whole object (only there can CEL see metadata.name), judged separately:
a bad name is reported even when the spec has errors, and the other way round."""
