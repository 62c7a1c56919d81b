"""A table of good and bad LLMTrainingJobs, shared by the SDK's unit tests and the test
that sends the same jobs to the real API server, so both sides are held to one answer."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Job = dict[str, Any]


def base_job(name: str = "table-job") -> Job:
    """A small valid job: 2 nodes x 4 GPUs with the built-in trainer."""
    return {
        "apiVersion": "llmtrain.dev/v1alpha1",
        "kind": "LLMTrainingJob",
        "metadata": {"name": name},
        "spec": {
            "nodes": 2,
            "resources": {"gpus": 4},
            "trainer": {
                "model": {"preset": "test"},
                "data": {"paths": ["/data/tokens.bin"]},
            },
        },
    }


@dataclass(frozen=True)
class Case:
    """A change to the base job and what both validators must say about it.

    `path` is the field the error names (None for a good job); `message` is the exact
    text of a cross-field rule, which the API server repeats word for word, or None
    where each side words a schema error its own way. `also` are further (path, message)
    errors the same job must get in the same answer (every problem at once); `absent`
    are texts neither side may say: rules whose inputs are bad must not be judged.
    `blocks_rules` marks the errors after which the API server judges no CEL rule at all
    (those inside Kubernetes' own types, which keep their OpenAPI `required`).
    """

    id: str
    change: Callable[[Job], None]
    path: str | None = None
    message: str | None = None
    also: tuple[tuple[str, str | None], ...] = ()
    absent: tuple[str, ...] = ()
    blocks_rules: bool = False

    @property
    def errors(self) -> list[tuple[str, str | None]]:
        """Every (path, message) the job must be refused with."""
        assert self.path is not None
        return [(self.path, self.message), *self.also]

    def job(self, name: str = "table-job") -> Job:
        """The base job with the change applied."""
        job = copy.deepcopy(base_job(name))
        self.change(job)
        return job


def _set(path: str, value: Any) -> Callable[[Job], None]:
    def change(job: Job) -> None:
        *parents, leaf = path.split(".")
        node = job
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value

    return change


def _delete(path: str) -> Callable[[Job], None]:
    def change(job: Job) -> None:
        *parents, leaf = path.split(".")
        node = job
        for key in parents:
            node = node[key]
        del node[leaf]

    return change


def _all(*changes: Callable[[Job], None]) -> Callable[[Job], None]:
    def change(job: Job) -> None:
        for each in changes:
            each(job)

    return change


GOOD = [
    Case("base", lambda job: None),
    Case("tensor-parallel-divides", _set("spec.trainer.parallelism", {"tensorParallel": 4, "strategy": "fsdp"})),
    Case("global-batch-multiple", _set("spec.trainer.batch", {"microBatchSize": 2, "globalBatchSize": 32})),
    Case("custom-command", _all(_delete("spec.trainer"), _set("spec.command", ["train.py", "--lr", "1e-4"]))),
    Case("elastic-in-range", _set("spec.elastic", {"minNodes": 1, "maxNodes": 4})),
    Case(
        "mount-names-volume",
        _all(
            _set("spec.volumes", [{"name": "data", "persistentVolumeClaim": {"claimName": "tokens"}}]),
            _set("spec.volumeMounts", [{"name": "data", "mountPath": "/data"}]),
        ),
    ),
    Case("name-at-limit", _set("metadata.name", "a" * 56)),
    Case("quantities", _set("spec.resources", {"gpus": 8, "cpu": 32, "memory": "400Gi", "extra": {"rdma/ib": 1}})),
    # Zero CPU is no request and no limit, as in any pod; an extended resource may be 0 or "2k".
    Case(
        "zero-cpu-and-counts",
        _set(
            "spec.resources",
            {"gpus": 4, "cpu": "0", "extra": {"rdma/ib": 0, "example.com/fpga": "2k", "hugepages-2Mi": "1Gi"}},
        ),
    ),
    Case(
        "quantity-forms",
        _all(_set("spec.resources", {"gpus": 4, "cpu": "+500m", "memory": "1.5e9"}), _set("spec.shmSize", 67108864)),
    ),
    Case(
        "bounds-at-their-limits",
        _all(
            _set("spec.elastic", {"minNodes": 1, "maxNodes": 4096}),
            _set("spec.trainer.optimizer", {"betas": [0, 0.999], "weightDecay": 0}),
            _set("spec.trainer.seed", 2**53 - 1),
            _set("spec.scheduling", {"gang": {"enabled": True, "timeoutSeconds": 2**31 - 1}}),
        ),
    ),
    Case("hf-directory", _set("spec.trainer.model", {"path": "/models/llama", "pretrainedWeights": False})),
    Case("hang-timeouts", _set("spec.runPolicy", {"hangTimeoutSeconds": 600, "startupTimeoutSeconds": 900})),
    Case("recovery-in-place", _set("spec.runPolicy", {"recovery": "InPlace", "restartPolicy": "OnFailure"})),
    Case(
        "command-recovers-as-a-gang",
        _all(_delete("spec.trainer"), _set("spec.command", ["train.py"]), _set("spec.runPolicy.recovery", "Gang")),
    ),
]

_IN_PLACE_NEEDS = (
    "recovery InPlace needs the built-in trainer (spec.trainer) and restartPolicy OnFailure; "
    "use Gang, or leave recovery unset"
)

BAD = [
    Case(
        "command-in-place",
        _all(_delete("spec.trainer"), _set("spec.command", ["train.py"]), _set("spec.runPolicy.recovery", "InPlace")),
        "spec.runPolicy.recovery",
        _IN_PLACE_NEEDS,
    ),
    Case(
        "command-with-a-hang-timeout",
        _all(
            _delete("spec.trainer"), _set("spec.command", ["train.py"]), _set("spec.runPolicy.hangTimeoutSeconds", 60)
        ),
        "spec.runPolicy",
        "hangTimeoutSeconds, startupTimeoutSeconds and stragglerFactor watch the built-in trainer's steps; "
        "a custom command reports none: remove them",
    ),
    Case(
        "in-place-with-exit-code-policy",
        _set("spec.runPolicy", {"recovery": "InPlace", "restartPolicy": "ExitCode"}),
        "spec.runPolicy.recovery",
        _IN_PLACE_NEEDS,
    ),
    Case(
        "trainer-and-command",
        _set("spec.command", ["train.py"]),
        "spec",
        "set exactly one of trainer (the built-in trainer) and command (your own script under torchrun)",
    ),
    Case(
        "neither-trainer-nor-command",
        _delete("spec.trainer"),
        "spec",
        "set exactly one of trainer (the built-in trainer) and command (your own script under torchrun)",
    ),
    Case(
        "tensor-parallel-does-not-divide",
        _set("spec.trainer.parallelism", {"tensorParallel": 3}),
        "spec.trainer.parallelism.tensorParallel",
        "3 does not divide nodes x procsPerNode = 8",
    ),
    Case(
        "tensor-parallel-with-procs-per-node",
        _all(_set("spec.procsPerNode", 3), _set("spec.trainer.parallelism", {"tensorParallel": 4})),
        "spec.trainer.parallelism.tensorParallel",
        "4 does not divide nodes x procsPerNode = 6",
    ),
    # Pipeline parallelism is not built: the schema allows 1 only (each side words the bound).
    Case(
        "pipeline-parallel-not-built",
        _set("spec.trainer.parallelism", {"pipelineParallel": 2}),
        "spec.trainer.parallelism.pipelineParallel",
    ),
    Case(
        "global-batch-not-multiple",
        _set("spec.trainer.batch", {"microBatchSize": 2, "globalBatchSize": 20}),
        "spec.trainer.batch.globalBatchSize",
        "20 is not a multiple of microBatchSize x data-parallel size = 2 x 8",
    ),
    Case(
        "global-batch-and-accumulation",
        _set("spec.trainer.batch", {"globalBatchSize": 64, "gradientAccumulationSteps": 2}),
        "spec.trainer.batch",
        "set at most one of globalBatchSize and gradientAccumulationSteps",
    ),
    Case(
        "nodes-outside-elastic",
        _set("spec.elastic", {"minNodes": 3, "maxNodes": 4}),
        "spec.nodes",
        "2 is outside elastic.minNodes..maxNodes = 3..4",
    ),
    Case(
        "elastic-bounds-reversed",
        _all(_set("spec.nodes", 4), _set("spec.elastic", {"minNodes": 5, "maxNodes": 4})),
        "spec.elastic",
        "minNodes must not exceed maxNodes",
    ),
    Case(
        "mount-without-volume",
        _set("spec.volumeMounts", [{"name": "data", "mountPath": "/data"}]),
        "spec.volumeMounts",
        "every volumeMounts[].name must be the name of an entry in volumes",
    ),
    Case(
        "reserved-env",
        _set("spec.env", [{"name": "PET_NNODES", "value": "9"}]),
        "spec.env",
        "PET_* and LLMTRAIN_* variables are set by the operator; give yours another name",
    ),
    Case(
        "reserved-volume",
        _set("spec.volumes", [{"name": "llmtrain-shm", "emptyDir": {}}]),
        "spec.volumes",
        "volume names starting with llmtrain- are reserved for the operator; rename the volume",
    ),
    Case(
        "model-preset-and-path",
        _set("spec.trainer.model", {"preset": "test", "path": "/models/x"}),
        "spec.trainer.model",
        "set exactly one of preset (a built-in model) and path (a Hugging Face model directory)",
    ),
    Case(
        "sft-without-sft-data",
        _set("spec.trainer.objective", "sft"),
        "spec.trainer",
        "objective sft needs data.format sft (jsonl with prompt and response)",
    ),
    Case(
        "text-without-tokenizer",
        _set("spec.trainer.data.format", "text"),
        "spec.trainer",
        "data.format text and sft need data.tokenizer (a local tokenizer path)",
    ),
    Case(
        "name-too-long",
        _set("metadata.name", "a" * 57),
        "metadata.name",
        "metadata.name may have at most 56 characters so that " + "a" * 57 + "-node-1 fits in 63; it has 57",
    ),
    Case(
        "name-not-dns-label",
        _set("metadata.name", "9-lives"),
        "metadata.name",
        "metadata.name must be a DNS label: lower-case letters, digits and '-', "
        "starting with a letter and ending with a letter or digit",
    ),
    Case("zero-nodes", _set("spec.nodes", 0), "spec.nodes"),
    Case(
        "unknown-strategy",
        _set("spec.trainer.parallelism", {"strategy": "zero3"}),
        "spec.trainer.parallelism.strategy",
        "Input should be 'ddp', 'fsdp' or 'hsdp'",
    ),
    Case("bad-quantity", _set("spec.resources", {"memory": "lots"}), "spec.resources.memory"),
    Case(
        "unknown-preset",
        _set("spec.trainer.model", {"preset": "gpt-5"}),
        "spec.trainer.model.preset",
        "Input should be 'test', 'llama-125m', 'llama-1b' or 'llama-8b'",
    ),
    Case("bad-env-entry", _set("spec.env", [{"value": "no name"}]), "spec.env[0].name", blocks_rules=True),
    Case("missing-required-field", _set("spec.elastic", {"maxNodes": 4}), "spec.elastic.minNodes", "Field required"),
    Case("missing-training-data", _delete("spec.trainer.data"), "spec.trainer.data", "Field required"),
    # Negative and zero quantities: a pod with them is refused (422) or means "no limit".
    Case(
        "negative-memory",
        _set("spec.resources.memory", "-1Gi"),
        "spec.resources.memory",
        '"-1Gi" is negative; use a size such as 16Gi',
    ),
    Case(
        "negative-cpu-integer",
        _set("spec.resources.cpu", -4),
        "spec.resources.cpu",
        '"-4" is negative; use a number of cores such as 4 or 500m',
    ),
    Case(
        "negative-shm-size",
        _set("spec.shmSize", "-1Gi"),
        "spec.shmSize",
        '"-1Gi" is negative; use a size such as 16Gi',
    ),
    Case(
        "zero-memory",
        _set("spec.resources.memory", 0),
        "spec.resources.memory",
        '"0" is zero, which Kubernetes takes as no limit; use a size such as 16Gi, or leave the field out',
    ),
    Case(
        "zero-shm-size",
        _set("spec.shmSize", "0Gi"),
        "spec.shmSize",
        '"0Gi" is zero, which Kubernetes takes as no limit; use a size such as 16Gi, or leave the field out',
    ),
    Case(
        "negative-extra-resource",
        _set("spec.resources.extra", {"rdma/ib": "-1"}),
        "spec.resources.extra[rdma/ib]",
        '"-1" is negative; use a count such as 1',
    ),
    Case(
        "fractional-extended-resource",
        _set("spec.resources.extra", {"rdma/ib": "500m"}),
        "spec.resources.extra",
        "extended resources (names with a domain, such as rdma/ib) are counted in whole numbers, e.g. rdma/ib: 1",
    ),
    Case("fractional-number-quantity", _set("spec.resources.cpu", 1.5), "spec.resources.cpu", blocks_rules=True),
    # Numbers the trainer or Kubernetes would refuse later.
    Case("beta-of-one", _set("spec.trainer.optimizer", {"betas": [0.9, 1.0]}), "spec.trainer.optimizer.betas[1]"),
    Case("negative-beta", _set("spec.trainer.optimizer", {"betas": [-0.1, 0.95]}), "spec.trainer.optimizer.betas[0]"),
    Case("too-many-elastic-nodes", _set("spec.elastic", {"minNodes": 1, "maxNodes": 5000}), "spec.elastic.maxNodes"),
    Case(
        "gang-timeout-beyond-int32",
        _set("spec.scheduling", {"gang": {"enabled": True, "timeoutSeconds": 2**31}}),
        "spec.scheduling.gang.timeoutSeconds",
    ),
    Case("seed-too-large", _set("spec.trainer.seed", 2**53), "spec.trainer.seed"),
    Case("seed-beyond-int64", _set("spec.trainer.seed", 2**63), "spec.trainer.seed", blocks_rules=True),
    Case("negative-seed", _set("spec.trainer.seed", -1), "spec.trainer.seed"),
    # Every problem at once: missing or wrong fields and the cross-field rules both sides can still judge.
    Case(
        "missing-field-and-broken-rule",
        _all(_set("spec.elastic", {"maxNodes": 4}), _set("spec.trainer.parallelism", {"tensorParallel": 3})),
        "spec.elastic.minNodes",
        "Field required",
        also=(("spec.trainer.parallelism.tensorParallel", "3 does not divide nodes x procsPerNode = 8"),),
        absent=("is outside elastic.minNodes..maxNodes",),
    ),
    Case(
        "misspelt-value-and-broken-rule",
        _all(_set("spec.trainer.parallelism", {"strategy": "zero3"}), _set("spec.trainer.objective", "sft")),
        "spec.trainer.parallelism.strategy",
        "Input should be 'ddp', 'fsdp' or 'hsdp'",
        also=(("spec.trainer", "objective sft needs data.format sft (jsonl with prompt and response)"),),
    ),
    Case(
        "bad-name-negative-memory-and-broken-rule",
        _all(
            _set("metadata.name", "Broken_Name"),
            _set("spec.resources.memory", "-1Gi"),
            _set("spec.trainer.parallelism", {"tensorParallel": 3}),
        ),
        "metadata.name",
        "metadata.name must be a DNS label: lower-case letters, digits and '-', "
        "starting with a letter and ending with a letter or digit",
        also=(
            ("spec.resources.memory", '"-1Gi" is negative; use a size such as 16Gi'),
            ("spec.trainer.parallelism.tensorParallel", "3 does not divide nodes x procsPerNode = 8"),
        ),
    ),
    Case(
        "missing-data-and-long-name",
        _all(
            _delete("spec.trainer.data"),
            _set("metadata.name", "a" * 57),
            _set("spec.volumeMounts", [{"name": "x", "mountPath": "/x"}]),
        ),
        "spec.trainer.data",
        "Field required",
        also=(
            (
                "metadata.name",
                "metadata.name may have at most 56 characters so that " + "a" * 57 + "-node-1 fits in 63; it has 57",
            ),
            ("spec.volumeMounts", "every volumeMounts[].name must be the name of an entry in volumes"),
        ),
    ),
    Case(
        "wrong-type-is-not-taken-for-the-default",
        _all(_set("spec.nodes", "two"), _set("spec.elastic", {"minNodes": 3, "maxNodes": 4})),
        "spec.nodes",
        absent=("is outside elastic",),
        blocks_rules=True,
    ),
    Case(
        "rules-wait-for-their-bad-inputs",
        _all(
            _set("spec.nodes", 0),
            _set("spec.elastic", {"minNodes": 3, "maxNodes": 4}),
            _set("spec.trainer.parallelism", {"tensorParallel": 3}),
            _set("spec.trainer.batch", {"microBatchSize": 0, "globalBatchSize": 20}),
            _set("spec.trainer.data.format", "txt"),
        ),
        "spec.nodes",
        also=(
            ("spec.trainer.batch.microBatchSize", None),
            ("spec.trainer.data.format", "Input should be 'tokens', 'text' or 'sft'"),
        ),
        absent=("is outside elastic", "does not divide", "is not a multiple", "need data.tokenizer", "evaluating rule"),
    ),
]
