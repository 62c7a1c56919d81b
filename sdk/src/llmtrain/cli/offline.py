"""Commands that need no cluster: `validate` a file and `generate` a job as YAML."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import IO, Any

import click
import yaml

from llmtrain.api.job import LLMTrainingJob
from llmtrain.cli.options import debug_option, read_job
from llmtrain.cli.render import dump, workload

Command = Callable[..., Any]


@click.command()
@click.argument("file", type=click.File("r"))
@debug_option
def validate(file: IO[str]) -> None:
    """Check the job in FILE (- reads standard input) without a cluster.

    The messages name each bad field by its path, exactly as the API server would,
    and list every problem at once: missing and wrong fields, and each cross-field
    rule whose fields are valid. The exit code is 2 when the job is invalid.

    \b
    Examples:
      llmtrain validate job.yaml
      llmtrain generate pretrain gpt --data /data/tokens | llmtrain validate -
    """
    job = read_job(file)
    spec = job.spec
    click.echo(
        f"{job.metadata.name}: valid ({spec.nodes} nodes x {spec.effective_procs_per_node} processes; {workload(job)})"
    )


def _pairs(ctx: click.Context, param: click.Parameter, values: Sequence[str]) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", ctx, param)
        pairs[key] = rest
    return pairs


def _settings(ctx: click.Context, param: click.Parameter, values: Sequence[str]) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    for path, text in _pairs(ctx, param, values).items():
        *parents, leaf = path.removeprefix("spec.").split(".")
        node = spec
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(text)
    return spec


def common_options(command: Command) -> Command:
    """The options every `generate` command takes, turned into builder options."""

    @click.option("-n", "--namespace", help="Namespace of the job.")
    @click.option(
        "--nodes", type=click.IntRange(min=1), default=1, show_default=True, help="Pods in the gang, one per node."
    )
    @click.option(
        "--gpus", type=click.IntRange(min=0), default=8, show_default=True, help="GPUs per pod (0: a CPU job)."
    )
    @click.option("--procs-per-node", type=click.IntRange(min=1), help="Processes per pod (default: --gpus, or 1).")
    @click.option("--cpu", help='CPU per pod, e.g. "32".')
    @click.option("--memory", help="Memory per pod, e.g. 400Gi.")
    @click.option("--shm-size", help="Size of /dev/shm, e.g. 64Gi.")
    @click.option(
        "--env", multiple=True, callback=_pairs, metavar="NAME=VALUE", help="Environment variable (repeatable)."
    )
    @click.option(
        "--mount",
        "mounts",
        multiple=True,
        callback=_pairs,
        metavar="PATH=CLAIM",
        help="Mount a PersistentVolumeClaim at PATH (repeatable).",
    )
    @click.option("--checkpoint-pvc", metavar="CLAIM", help="PersistentVolumeClaim for checkpoints.")
    @click.option(
        "--label", "labels", multiple=True, callback=_pairs, metavar="KEY=VALUE", help="Label of the job (repeatable)."
    )
    @click.option("--backoff-limit", type=click.IntRange(min=0), help="Gang restarts allowed before the job fails.")
    @click.option(
        "--set",
        "spec",
        multiple=True,
        callback=_settings,
        metavar="FIELD=VALUE",
        help="Any spec field by its YAML path, e.g. runPolicy.ttlSecondsAfterFinished=3600 "
        "(repeatable; VALUE is YAML).",
    )
    @click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
    @debug_option
    @functools.wraps(command)
    def wrapped(output: str, **kwargs: Any) -> None:
        options = {key: value for key, value in kwargs.items() if value not in (None, {}, ())}
        job: LLMTrainingJob = command(**options)
        click.echo(dump(job.to_wire(), "json" if output == "json" else "yaml"), nl=False)

    return wrapped


TRAINER_OPTIONS = (
    click.option(
        "--data",
        "data",
        multiple=True,
        required=True,
        metavar="PATH",
        help="Training data path or glob inside the pods (repeatable).",
    ),
    click.option(
        "--data-format",
        type=click.Choice(["tokens", "text", "sft"]),
        help="Default: sft for .jsonl, text for .txt, tokens otherwise.",
    ),
    click.option("--tokenizer", help="Local tokenizer path (needed for text and sft data)."),
    click.option("--steps", type=click.IntRange(min=1), help="Optimizer steps."),
    click.option("--warmup-steps", type=click.IntRange(min=0), help="Learning-rate warm-up steps."),
    click.option("--lr", type=float, help="Peak learning rate."),
    click.option("--seq-len", type=click.IntRange(min=8), help="Tokens per sequence."),
    click.option("--micro-batch-size", type=click.IntRange(min=1), help="Sequences per process per forward pass."),
    click.option("--global-batch-size", type=click.IntRange(min=1), help="Sequences per optimizer step."),
    click.option("--precision", type=click.Choice(["bf16", "fp16", "fp32"])),
    click.option("--strategy", type=click.Choice(["ddp", "fsdp", "hsdp"]), help="Data parallelism."),
    click.option("--tensor-parallel", type=click.IntRange(min=1), help="Tensor-parallel degree."),
    click.option("--checkpoint-interval", type=click.IntRange(min=1), help="Save a checkpoint every this many steps."),
    click.option("--image", help="Container image (default: the operator's trainer image)."),
)


def trainer_options(command: Command) -> Command:
    """Add the options of the built-in trainer that pretrain and finetune take."""
    for option in reversed(TRAINER_OPTIONS):
        command = option(command)
    return command


@click.group()
def generate() -> None:
    """Print a job as YAML, to edit, `kubectl apply -f -`, or `llmtrain submit -`.

    \b
    Examples:
      llmtrain generate pretrain gpt-small --model llama-1b --data '/data/tokens/*.bin' --nodes 4 --mount /data=fineweb
      llmtrain generate custom my-script --image registry.example.com/me/train:1 -- train.py --lr 3e-4
    """


@generate.command()
@click.argument("name")
@click.option(
    "--model",
    default="llama-1b",
    show_default=True,
    help="A preset (test, llama-125m, llama-1b, llama-8b) or a Hugging Face model directory "
    "(its architecture, fresh weights).",
)
@trainer_options
@common_options
def pretrain(name: str, model: str, data: tuple[str, ...], nodes: int, gpus: int, **options: Any) -> LLMTrainingJob:
    """Pretrain a model from scratch with the built-in trainer.

    \b
    Example (a CPU job the local cluster runs):
      llmtrain generate pretrain tiny --model test --gpus 0 --nodes 2 --steps 50 \\
        --data /data/tokens.bin --mount /data=tiny-data | llmtrain submit - --wait
    """
    return LLMTrainingJob.pretrain(name, model=model, data=list(data), nodes=nodes, gpus=gpus, **options)


@generate.command()
@click.argument("name")
@click.option("--model", required=True, help="A Hugging Face model directory inside the pods (or a preset).")
@trainer_options
@common_options
def finetune(name: str, model: str, data: tuple[str, ...], nodes: int, gpus: int, **options: Any) -> LLMTrainingJob:
    """Fine-tune a model with the built-in trainer (SFT on prompt/response jsonl by default).

    \b
    Example:
      llmtrain generate finetune llama-sft --model /models/Llama-3.2-1B --data /datasets/train.jsonl \\
        --mount /models=hf-models --mount /datasets=sft-data --checkpoint-pvc sft-ckpt
    """
    return LLMTrainingJob.finetune(name, model=model, data=list(data), nodes=nodes, gpus=gpus, **options)


@generate.command(context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.option("--image", required=True, help="Your image, with torch and your script.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@common_options
def custom(name: str, image: str, command: tuple[str, ...], nodes: int, gpus: int, **options: Any) -> LLMTrainingJob:
    """Run your own script under torchrun: COMMAND is what follows `torchrun` (after --).

    \b
    Example:
      llmtrain generate custom my-script --image registry.example.com/team/trainer:1 \\
        --nodes 4 --gpus 8 -- train.py --lr 3e-4
    """
    return LLMTrainingJob.custom(name, image, list(command), nodes=nodes, gpus=gpus, **options)
