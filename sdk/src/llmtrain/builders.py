"""Short constructors for the common jobs: pretraining, fine-tuning and your own script.

Each builder returns the wire form (a camelCase dictionary, as `kubectl apply` takes it);
`LLMTrainingJob.pretrain`, `.finetune` and `.custom` validate it into a typed job. Only
what the caller chose is written, so the generated YAML stays short and every default
remains the operator's and trainer's to apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict, get_args

from llmtrain.api.trainer import ModelPreset

PRESETS: frozenset[str] = frozenset(get_args(ModelPreset))

Wire = dict[str, Any]


class CustomOptions(TypedDict, total=False):
    """Settings every builder takes; all optional."""

    namespace: str
    """Namespace of the job; the client's namespace when unset."""
    labels: Mapping[str, str]
    """Labels of the job."""
    procs_per_node: int
    """Processes per pod; defaults to the GPUs per pod, or 1 without GPUs."""
    cpu: str
    """CPU per pod, e.g. "32"."""
    memory: str
    """Memory per pod, e.g. "400Gi"."""
    shm_size: str
    """Size of /dev/shm, e.g. "64Gi"."""
    env: Mapping[str, str]
    """Extra environment variables."""
    mounts: Mapping[str, str]
    """PersistentVolumeClaims to mount: mount path -> claim name, e.g. {"/data": "fineweb"}."""
    checkpoint_pvc: str
    """PersistentVolumeClaim for checkpoints (an emptyDir, lost with the pods, when unset)."""
    backoff_limit: int
    """Gang restarts allowed before the job fails."""
    spec: Mapping[str, Any]
    """Any other spec fields, in their camelCase YAML form; merged last, so they win."""


class TrainerOptions(CustomOptions, total=False):
    """Settings of the built-in trainer that pretrain and finetune take; all optional."""

    image: str
    """Container image; the operator's default trainer image when unset."""
    data_format: Literal["tokens", "text", "sft"]
    """Data format; by default sft for .jsonl files, text for .txt files, tokens otherwise."""
    tokenizer: str
    """A local tokenizer path (needed for text and sft data)."""
    steps: int
    """Optimizer steps."""
    warmup_steps: int
    """Learning-rate warm-up steps."""
    lr: float
    """Peak learning rate."""
    seq_len: int
    """Tokens per sequence."""
    micro_batch_size: int
    """Sequences per process per forward pass."""
    global_batch_size: int
    """Sequences per optimizer step over all processes."""
    precision: Literal["bf16", "fp16", "fp32"]
    """Compute precision."""
    strategy: Literal["ddp", "fsdp", "hsdp"]
    """Data parallelism."""
    tensor_parallel: int
    """Tensor-parallel degree."""
    checkpoint_interval: int
    """Save a checkpoint every this many steps."""


def pretrain(
    name: str, *, data: str | Sequence[str], model: str, nodes: int, gpus: int, options: TrainerOptions
) -> Wire:
    """A job that trains `model` (a preset, or a Hugging Face directory's architecture) from scratch."""
    trainer = _trainer(model, data, options)
    if "path" in trainer["model"]:
        # Pretraining starts from fresh weights; the directory only gives the architecture.
        trainer["model"]["pretrainedWeights"] = False
    return _job(name, {"image": options.get("image"), "trainer": trainer}, nodes=nodes, gpus=gpus, options=options)


def finetune(
    name: str, *, model: str, data: str | Sequence[str], nodes: int, gpus: int, options: TrainerOptions
) -> Wire:
    """A job that fine-tunes `model`: SFT on prompt/response jsonl, or continued pretraining on other data."""
    trainer = _trainer(model, data, options)
    if trainer["data"]["format"] == "sft":
        trainer["objective"] = "sft"
    if "path" in trainer["model"] and trainer["data"]["format"] != "tokens":
        # A Hugging Face model directory carries its tokenizer.
        trainer["data"].setdefault("tokenizer", model)
    trainer.setdefault("optimizer", {}).setdefault("lr", 2e-5)
    return _job(name, {"image": options.get("image"), "trainer": trainer}, nodes=nodes, gpus=gpus, options=options)


def custom(name: str, *, image: str, command: Sequence[str], nodes: int, gpus: int, options: CustomOptions) -> Wire:
    """A job that runs `torchrun <command...>` from your own image."""
    return _job(name, {"image": image, "command": list(command)}, nodes=nodes, gpus=gpus, options=options)


def data_format(paths: Sequence[str]) -> Literal["tokens", "text", "sft"]:
    """The format the file names suggest: sft for .jsonl, text for .txt, tokens otherwise."""
    if all(path.endswith(".jsonl") for path in paths):
        return "sft"
    if all(path.endswith(".txt") for path in paths):
        return "text"
    return "tokens"


def _trainer(model: str, data: str | Sequence[str], options: TrainerOptions) -> Wire:
    paths = [data] if isinstance(data, str) else list(data)
    data_section: Wire = {"format": options.get("data_format") or data_format(paths), "paths": paths}
    _put(data_section, "tokenizer", options.get("tokenizer"))
    _put(data_section, "seqLen", options.get("seq_len"))
    trainer: Wire = {"model": {"preset": model} if model in PRESETS else {"path": model}, "data": data_section}
    sections: dict[str, Wire] = {
        "optimizer": {"lr": options.get("lr")},
        "schedule": {"steps": options.get("steps"), "warmupSteps": options.get("warmup_steps")},
        "batch": {
            "microBatchSize": options.get("micro_batch_size"),
            "globalBatchSize": options.get("global_batch_size"),
        },
        "parallelism": {"strategy": options.get("strategy"), "tensorParallel": options.get("tensor_parallel")},
        "checkpoint": {"interval": options.get("checkpoint_interval")},
    }
    for section, fields in sections.items():
        chosen = {key: value for key, value in fields.items() if value is not None}
        if chosen:
            trainer[section] = chosen
    _put(trainer, "precision", options.get("precision"))
    return trainer


def _cpu_defaults(trainer: Wire) -> None:
    # The trainer's defaults (bf16, FSDP, torch.compile, fused AdamW) suit GPUs; on CPUs
    # with gloo the tiny-cpu example's settings are what work and are fast enough.
    trainer.setdefault("precision", "fp32")
    trainer.setdefault("parallelism", {}).setdefault("strategy", "ddp")
    trainer["parallelism"].setdefault("compile", False)
    trainer.setdefault("optimizer", {}).setdefault("fused", False)


def _job(name: str, workload: Wire, *, nodes: int, gpus: int, options: CustomOptions) -> Wire:
    spec: Wire = {}
    _put(spec, "image", workload.pop("image"))
    spec["nodes"] = nodes
    _put(spec, "procsPerNode", options.get("procs_per_node"))
    resources: Wire = {"gpus": gpus}
    _put(resources, "cpu", options.get("cpu"))
    _put(resources, "memory", options.get("memory"))
    spec["resources"] = resources
    _put(spec, "shmSize", options.get("shm_size"))
    spec.update(workload)
    if gpus == 0 and "trainer" in spec:
        _cpu_defaults(spec["trainer"])
    if env := options.get("env"):
        spec["env"] = [{"name": key, "value": value} for key, value in env.items()]
    if mounts := options.get("mounts"):
        spec["volumes"] = [
            {"name": _volume_name(index), "persistentVolumeClaim": {"claimName": claim}}
            for index, claim in enumerate(mounts.values())
        ]
        spec["volumeMounts"] = [{"name": _volume_name(index), "mountPath": path} for index, path in enumerate(mounts)]
    if claim := options.get("checkpoint_pvc"):
        spec["checkpoint"] = {"volume": {"persistentVolumeClaim": {"claimName": claim}}}
    if (backoff_limit := options.get("backoff_limit")) is not None:
        spec["runPolicy"] = {"backoffLimit": backoff_limit}
    merge(spec, dict(options.get("spec") or {}))
    metadata: Wire = {"name": name}
    _put(metadata, "namespace", options.get("namespace"))
    if labels := options.get("labels"):
        metadata["labels"] = dict(labels)
    return {"apiVersion": "llmtrain.dev/v1alpha1", "kind": "LLMTrainingJob", "metadata": metadata, "spec": spec}


def merge(base: Wire, changes: Mapping[str, Any]) -> Wire:
    """Deep-merge `changes` into `base` (mappings merge, anything else replaces); returns base."""
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def _volume_name(index: int) -> str:
    return f"data-{index}" if index else "data"


def _put(target: Wire, key: str, value: object) -> None:
    if value is not None:
        target[key] = value
