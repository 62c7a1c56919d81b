"""The trainer configuration: `spec.trainer` of an LLMTrainingJob.

The operator writes this section, with every default spelled out, to the job's ConfigMap;
`llmtrain_trainer` reads it back through the same models. Defaults suit one node of eight
GPUs training a Llama-style model; the cross-field rules that involve the rest of the spec
(world size, batch divisibility) live in `llmtrain.api.spec`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from llmtrain.api.base import ApiModel, CelRule, Rule

ModelPreset = Literal["test", "llama-125m", "llama-1b", "llama-8b"]
"""Built-in model shapes, from a test-size model to Llama 3 8B."""

INT32_MAX = 2**31 - 1
"""Upper bound of the counts and numbers of seconds of the spec: far beyond any real run, and
within every integer type they meet (Kubernetes keeps counts and durations in 32 bits:
PodGroup's scheduleTimeoutSeconds, Job's ttlSecondsAfterFinished)."""
SEED_MAX = 2**53 - 1
"""The largest integer a JSON number keeps exactly everywhere: the API server refuses a
`maximum` of 2**63 - 1 (it reads bounds as float64), and torch.manual_seed takes any of these."""
MODEL_SIZE_MAX = 2**20
"""Bound on widths and depths of a model shape (dim, heads, layers): far beyond any real model."""
CONTEXT_MAX = 2**24
"""Bound on sequence lengths (16M tokens)."""

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
"""A float that is neither inf nor nan (YAML's .inf and .nan would pass a lower bound)."""


class ModelOverrides(ApiModel):
    """Changes to a preset's shape; unset fields keep the preset's value."""

    dim: int | None = Field(default=None, ge=8, le=MODEL_SIZE_MAX)
    """Hidden size."""
    n_layers: int | None = Field(default=None, ge=1, le=MODEL_SIZE_MAX)
    """Number of Transformer blocks."""
    n_heads: int | None = Field(default=None, ge=1, le=MODEL_SIZE_MAX)
    """Number of attention heads."""
    n_kv_heads: int | None = Field(default=None, ge=1, le=MODEL_SIZE_MAX)
    """Number of key/value heads (grouped-query attention); must divide nHeads."""
    ffn_dim: int | None = Field(default=None, ge=8, le=MODEL_SIZE_MAX)
    """Hidden size of the SwiGLU feed-forward layer."""
    vocab_size: int | None = Field(default=None, ge=2, le=INT32_MAX)
    """Vocabulary size; must cover every token id in the data."""
    max_seq_len: int | None = Field(default=None, ge=8, le=CONTEXT_MAX)
    """Longest sequence the rotary embeddings are precomputed for."""
    rope_theta: FiniteFloat | None = Field(default=None, gt=0)
    """Base of the rotary embedding frequencies."""
    norm_eps: FiniteFloat | None = Field(default=None, gt=0)
    """Epsilon of RMSNorm."""
    tie_embeddings: bool | None = None
    """Share the token embedding with the output projection."""


ONE_MODEL_SOURCE = CelRule(
    rule="has(self.preset) != has(self.path)",
    message="set exactly one of preset (a built-in model) and path (a Hugging Face model directory)",
)
OVERRIDES_NEED_PRESET = CelRule(
    rule="!has(self.overrides) || has(self.preset)",
    message="overrides apply to a preset only; edit config.json of the model directory instead",
)


class ModelConfig(ApiModel):
    """Which model to train: a built-in preset, or a Hugging Face model directory."""

    rules = (
        Rule.holds(
            ONE_MODEL_SOURCE, lambda model: (model.preset is None) != (model.path is None), reads=("preset", "path")
        ),
        Rule.holds(
            OVERRIDES_NEED_PRESET,
            lambda model: model.overrides is None or model.preset is not None,
            reads=("overrides", "preset"),
        ),
    )

    preset: ModelPreset | None = None
    """A built-in Llama-style model: test, llama-125m, llama-1b or llama-8b."""
    overrides: ModelOverrides | None = None
    """Shape changes to the preset (only with preset)."""
    path: str | None = None
    """A local Hugging Face model directory (config.json, and weights unless pretrainedWeights is false), e.g. on a
    PVC."""
    pretrained_weights: bool = True
    """Load the weights found in path; false builds the architecture from config.json with fresh weights."""


DataFormat = Literal["tokens", "text", "sft"]


class DataConfig(ApiModel):
    """Where the training data is and how it is read."""

    format: DataFormat = "tokens"
    """tokens: flat pre-tokenized files; text: plain text tokenized on the fly; sft: jsonl with prompt and response."""
    paths: list[str] = Field(min_length=1)
    """Files, directories or glob patterns inside the pod."""
    token_dtype: Literal["uint16", "uint32"] = "uint16"
    """Integer width of token files (format tokens); uint32 for vocabularies over 65535."""
    tokenizer: str | None = None
    """A local tokenizer (a Hugging Face tokenizer directory or tokenizer.json); needed for text and sft, and exported
    with the model."""
    seq_len: int = Field(default=2048, ge=8, le=CONTEXT_MAX)
    """Tokens per training sequence."""
    validation_fraction: FiniteFloat = Field(default=0.005, ge=0.0, lt=0.5)
    """Share of the data held out for eval loss and perplexity."""
    num_workers: int = Field(default=2, ge=0, le=INT32_MAX)
    """Background data-loading workers per process (0: load in the training process)."""


Beta = Annotated[float, Field(ge=0, lt=1)]
"""An Adam beta: at least 0 and below 1."""


class OptimizerConfig(ApiModel):
    """AdamW settings."""

    name: Literal["adamw"] = "adamw"
    """The optimizer."""
    lr: FiniteFloat = Field(default=3e-4, gt=0)
    """Peak learning rate, reached at the end of warm-up."""
    weight_decay: FiniteFloat = Field(default=0.1, ge=0)
    """Decoupled weight decay (not applied to norms and biases)."""
    betas: tuple[Beta, Beta] = (0.9, 0.95)
    """Adam's beta1 and beta2, each at least 0 and below 1 (torch refuses others)."""
    eps: FiniteFloat = Field(default=1e-8, gt=0)
    """Adam's epsilon."""
    grad_clip: FiniteFloat | None = Field(default=1.0, gt=0)
    """Clip the global gradient norm to this value; null disables clipping."""
    fused: bool | None = None
    """Use the fused AdamW kernel; null picks it whenever the device supports it."""


class ScheduleConfig(ApiModel):
    """Training length and learning-rate schedule."""

    steps: int = Field(default=10_000, ge=1, le=INT32_MAX)
    """Optimizer steps to train for."""
    warmup_steps: int = Field(default=200, ge=0, le=INT32_MAX)
    """Linear warm-up from zero to the peak learning rate."""
    decay: Literal["cosine", "linear", "constant"] = "cosine"
    """Shape of the decay after warm-up."""
    min_lr_ratio: FiniteFloat = Field(default=0.1, ge=0, le=1)
    """Final learning rate as a fraction of the peak."""


ONE_BATCH_TARGET = CelRule(
    rule="!(has(self.globalBatchSize) && has(self.gradientAccumulationSteps))",
    message="set at most one of globalBatchSize and gradientAccumulationSteps",
)


class BatchConfig(ApiModel):
    """Batch sizes, in sequences."""

    rules = (
        Rule.holds(
            ONE_BATCH_TARGET,
            lambda batch: batch.global_batch_size is None or batch.gradient_accumulation_steps is None,
            reads=("globalBatchSize", "gradientAccumulationSteps"),
        ),
    )

    micro_batch_size: int = Field(default=8, ge=1, le=INT32_MAX)
    """Sequences per process per forward pass."""
    global_batch_size: int | None = Field(default=None, ge=1, le=INT32_MAX)
    """Sequences per optimizer step over all processes; gradient accumulation makes up the difference."""
    gradient_accumulation_steps: int | None = Field(default=None, ge=1, le=INT32_MAX)
    """Micro batches per optimizer step (instead of globalBatchSize); 1 when neither is set."""


class ParallelismConfig(ApiModel):
    """How the model and the data are split over processes."""

    strategy: Literal["ddp", "fsdp", "hsdp"] = "fsdp"
    """Data parallelism: ddp replicates the model, fsdp shards it (FSDP2), hsdp shards within a group and replicates
    across groups."""
    shard_group_size: int | None = Field(default=None, ge=1, le=INT32_MAX)
    """Processes per shard group with hsdp; defaults to procsPerNode (shard within a node)."""
    tensor_parallel: int = Field(default=1, ge=1, le=INT32_MAX)
    """Tensor-parallel degree; keep it within a node."""
    pipeline_parallel: int = Field(default=1, ge=1, le=1)
    """Pipeline-parallel degree: 1, the only value until the trainer has pipeline parallelism."""
    activation_checkpointing: Literal["none", "selective", "full"] = "none"
    """Recompute activations in the backward pass: none, every k-th block (selective) or every block (full)."""
    activation_checkpointing_every: int = Field(default=2, ge=1, le=INT32_MAX)
    """k for selective activation checkpointing."""
    compile: bool = True
    """torch.compile each Transformer block."""


WEIGHTS_ONLY_NEEDS_RESUME_FROM = CelRule(
    rule="!has(self.resumeWeightsOnly) || !self.resumeWeightsOnly || has(self.resumeFrom)",
    message="resumeWeightsOnly needs resumeFrom (the checkpoint whose weights to start from)",
)


class CheckpointPolicy(ApiModel):
    """When and how the trainer saves checkpoints."""

    rules = (
        Rule.holds(
            WEIGHTS_ONLY_NEEDS_RESUME_FROM,
            lambda policy: not policy.resume_weights_only or policy.resume_from is not None,
            reads=("resumeWeightsOnly", "resumeFrom"),
        ),
    )

    dir: str | None = None
    """Checkpoint directory when the environment sets no LLMTRAIN_CHECKPOINT_DIR (the operator sets it to
    <spec.checkpoint.path>/<namespace>/<job name>); without either, nothing is saved."""

    interval: int = Field(default=500, ge=1, le=INT32_MAX)
    """Save every this many steps (and on SIGTERM when there is time)."""
    keep: int = Field(default=3, ge=1, le=INT32_MAX)
    """Checkpoints kept; older ones are deleted after a newer one is complete."""
    async_save: bool = False
    """Write checkpoints in the background while training goes on."""
    resume: bool = True
    """Resume from the newest intact checkpoint in the job's own checkpoint directory on start (older ones are tried
    when the newest does not load)."""
    resume_from: str | None = Field(default=None, pattern=r"^/", max_length=4096)
    """Start from this checkpoint when the job has none of its own yet: a step directory (…/step-00000300) or a job's
    checkpoint directory (its newest intact step), e.g. another job's run to continue or fine-tune from. Read only,
    never pruned."""
    resume_weights_only: bool = False
    """Take only the model weights from resumeFrom: training starts at step 0 with a fresh optimizer and data order
    (fine-tuning from a pretraining run)."""
    export_hugging_face: bool = True
    """Write the final model as a Hugging Face directory (config, safetensors, tokenizer) under <checkpoint dir>/hf."""


class EvalConfig(ApiModel):
    """Evaluation on the validation split."""

    interval: int = Field(default=500, ge=1, le=INT32_MAX)
    """Evaluate every this many steps (and at the end)."""
    steps: int = Field(default=20, ge=1, le=INT32_MAX)
    """Validation batches per evaluation."""


class LoggingConfig(ApiModel):
    """Metrics and log lines."""

    interval: int = Field(default=10, ge=1, le=INT32_MAX)
    """Log one line and update the metrics every this many steps."""
    peak_flops: FiniteFloat | None = Field(default=None, gt=0)
    """Peak FLOP/s per device used for MFU; by default looked up from the device name (H100/H200 SXM: 989e12 dense
    bf16)."""
    metrics_file: str | None = None
    """Also append every logged step's metrics as one JSON line to this file (rank 0)."""


SFT_NEEDS_SFT_DATA = CelRule(
    rule="!has(self.objective) || self.objective != 'sft' || (has(self.data.format) && self.data.format == 'sft')",
    message="objective sft needs data.format sft (jsonl with prompt and response)",
)
TEXT_NEEDS_TOKENIZER = CelRule(
    rule="!has(self.data.format) || self.data.format == 'tokens' || has(self.data.tokenizer)",
    message="data.format text and sft need data.tokenizer (a local tokenizer path)",
)


class TrainerConfig(ApiModel):
    """The built-in trainer: what to train, on what, and how."""

    rules = (
        Rule.holds(
            SFT_NEEDS_SFT_DATA,
            lambda trainer: trainer.objective != "sft" or trainer.data.format == "sft",
            reads=("objective", "data.format"),
        ),
        Rule.holds(
            TEXT_NEEDS_TOKENIZER,
            lambda trainer: trainer.data.format == "tokens" or trainer.data.tokenizer is not None,
            reads=("data.format", "data.tokenizer"),
        ),
    )

    model: ModelConfig
    """The model."""
    data: DataConfig
    """The training data."""
    objective: Literal["causal-lm", "sft"] = "causal-lm"
    """causal-lm: next-token loss on every token (pretraining); sft: loss on response tokens only."""
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    """The optimizer."""
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    """Training length and learning-rate schedule."""
    batch: BatchConfig = Field(default_factory=BatchConfig)
    """Batch sizes."""
    precision: Literal["bf16", "fp16", "fp32"] = "bf16"
    """Compute precision; parameters and optimizer state stay in fp32."""
    parallelism: ParallelismConfig = Field(default_factory=ParallelismConfig)
    """Parallelism."""
    checkpoint: CheckpointPolicy = Field(default_factory=CheckpointPolicy)
    """Checkpointing."""
    eval: EvalConfig = Field(default_factory=EvalConfig)
    """Evaluation."""
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    """Metrics and logs."""
    seed: int = Field(default=1234, ge=0, le=SEED_MAX)
    """Seed of every random number generator; the same seed and data give the same run."""
