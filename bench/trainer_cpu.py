"""CPU benchmark: our trainer against the Hugging Face `Trainer` on the `test` preset.

Trains the same Llama-style model twice in one run, on the CPU in fp32, from random
initial weights, on synthetic tokens that this script writes (nothing is downloaded):

- **ours**: `llmtrain_trainer` the way users run it, through torchrun in a subprocess
  (`python -m torch.distributed.run --standalone --nproc-per-node 1 -m llmtrain_trainer
  --config ...`), with the throughput read back from the trainer's `logging.metricsFile`
  JSON lines;
- **theirs**: `transformers.Trainer` in this process on the equivalent `LlamaForCausalLM`
  (same shapes via `llmtrain_trainer.models.hf.llama_config`, same batch, sequence length,
  AdamW hyper-parameters, gradient clipping and learning-rate schedule), timed by a
  `TrainerCallback` at the end of every optimizer step.

Both measure tokens/s over the same steps after the same number of warm-up steps, so
start-up, the first iterations' allocations and the trainer's set-up are excluded, and
the script prints the ratio ours/theirs. It is a benchmark, not a test: nothing here
asserts a speed. Run it with

    .venv/bin/python bench/trainer_cpu.py [--out report.json]

(`make bench`). Defaults take well under a minute on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch

PRESET: Literal["test"] = "test"
TOKEN_DTYPE = "uint16"


@dataclass(frozen=True)
class Settings:
    """What both trainers train: one definition, so the two runs cannot drift apart."""

    seq_len: int = 128
    batch: int = 8
    warmup_steps: int = 10
    measured_steps: int = 40
    # One intra-op thread for both by default: on a shared 2-core machine two OpenMP threads
    # stall whenever another process takes one core (steps measured 5-10x slower), and a
    # model of dim 64 gains little from them. 0: torch's default (the physical cores).
    threads: int = 1
    lr: float = 3e-4
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    grad_clip: float = 1.0
    seed: int = 1234
    hf_optim: str = "adamw_torch"
    strategy: str | None = None  # parallelism.strategy of ours; None: the trainer's default (fsdp)

    @property
    def total_steps(self) -> int:
        return self.warmup_steps + self.measured_steps

    @property
    def tokens_per_step(self) -> int:
        return self.batch * self.seq_len

    def resolved_threads(self) -> int:
        return self.threads or torch.get_num_threads()


@dataclass(frozen=True)
class Measurement:
    """Throughput of one trainer over the measured steps.

    Two figures, because the development machines are shared: `tokens_per_second` is the
    honest mean (tokens over wall time), and `median_tokens_per_second` is one step's
    tokens over the median step time, which a few steps stalled by another process's work
    barely move. On a quiet machine the two agree.
    """

    name: str
    tokens_per_second: float
    median_tokens_per_second: float
    seconds: float
    steps: int
    tokens: int
    median_step_ms: float

    @property
    def step_ms(self) -> float:
        return 1000 * self.seconds / self.steps


def measurement(name: str, step_seconds: list[float], tokens_per_step: int) -> Measurement:
    """Both figures from the wall time of every measured step."""
    if not step_seconds or min(step_seconds) <= 0:
        raise RuntimeError(f"{name}: no usable step times ({step_seconds})")
    seconds = sum(step_seconds)
    tokens = tokens_per_step * len(step_seconds)
    median = statistics.median(step_seconds)
    return Measurement(
        name, tokens / seconds, tokens_per_step / median, seconds, len(step_seconds), tokens, 1000 * median
    )


@dataclass(frozen=True)
class Report:
    """The result of one benchmark run, as printed and as written with --out."""

    settings: Settings
    ours: Measurement
    theirs: Measurement
    ratio: float
    """ours/theirs of the mean tokens/s."""
    median_ratio: float
    """ours/theirs of the tokens/s at the median step time: the steadier figure on a busy machine."""
    environment: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "settings": {
                **asdict(self.settings),
                "threads": self.settings.resolved_threads(),
                "preset": PRESET,
                "precision": "fp32",
                "device": "cpu",
            },
            "ours": {**asdict(self.ours), "step_ms": self.ours.step_ms},
            "theirs": {**asdict(self.theirs), "step_ms": self.theirs.step_ms},
            "ratio": self.ratio,
            "median_ratio": self.median_ratio,
            "environment": self.environment,
        }


# ----------------------------------------------------------------------------- data


def synthetic_tokens(settings: Settings, vocab_size: int) -> npt.NDArray[np.uint16]:
    """Uniform random token ids, enough distinct windows for every step of the run.

    Random tokens make the loss meaningless but the work per step exactly that of real
    data, which is all a throughput benchmark needs.
    """
    windows = settings.total_steps * settings.batch
    generator = np.random.default_rng(settings.seed)
    return generator.integers(0, vocab_size, size=windows * (settings.seq_len + 1) + 1, dtype=np.uint16)


class TokenWindowDataset(torch.utils.data.Dataset[dict[str, torch.Tensor]]):
    """The same seq_len + 1 windows our trainer cuts, in the Hugging Face format.

    `LlamaForCausalLM` shifts the labels itself, so input_ids and labels are the first
    seq_len tokens of a window: seq_len tokens in, as for ours.
    """

    def __init__(self, tokens: npt.NDArray[np.uint16], seq_len: int) -> None:
        self.tokens = torch.from_numpy(tokens.astype(np.int64))
        self.seq_len = seq_len

    def __len__(self) -> int:
        return (len(self.tokens) - 1) // self.seq_len

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        start = index * self.seq_len
        ids = self.tokens[start : start + self.seq_len]
        return {"input_ids": ids, "labels": ids.clone()}


# ----------------------------------------------------------------------------- ours


def our_config(settings: Settings, data_path: Path, metrics_path: Path) -> dict[str, Any]:
    """The trainer config (spec.trainer, camelCase) of the benchmark run."""
    return {
        "model": {"preset": PRESET},
        # No background workers and no validation split: the Hugging Face side loads in
        # the main process (its default) and does not evaluate either.
        "data": {
            "paths": [str(data_path)],
            "tokenDtype": TOKEN_DTYPE,
            "seqLen": settings.seq_len,
            "numWorkers": 0,
            "validationFraction": 0.0,
        },
        "batch": {"microBatchSize": settings.batch},
        "precision": "fp32",
        # compile is off because torch.compile on the CPU builds C++ for tens of seconds,
        # which does not fit the minute, and the Hugging Face Trainer does not compile by
        # default either. The strategy is the trainer's default (fsdp) unless --strategy says.
        "parallelism": {"compile": False, **({"strategy": settings.strategy} if settings.strategy else {})},
        "optimizer": {
            "lr": settings.lr,
            "weightDecay": settings.weight_decay,
            "betas": list(settings.betas),
            "eps": settings.eps,
            "gradClip": settings.grad_clip,
        },
        "schedule": {
            "steps": settings.total_steps,
            "warmupSteps": settings.warmup_steps,
            "decay": "cosine",
            "minLrRatio": 0.0,
        },
        "checkpoint": {"resume": False, "exportHuggingFace": False},
        # A record per step, for the median; it costs ours a small all-reduce (of the loss) and
        # a log line per step that the default interval of 10 would not, so it errs against us.
        "logging": {"interval": 1, "metricsFile": str(metrics_path)},
        "seed": settings.seed,
    }


def torchrun_command(config_path: Path) -> list[str]:
    """Exactly how a user starts the trainer on one machine."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "1",
        "-m",
        "llmtrain_trainer",
        "--config",
        str(config_path),
    ]


def trainer_env(settings: Settings) -> dict[str, str]:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(settings.resolved_threads()),
        "PYTHONUNBUFFERED": "1",
        # Port 0: the Prometheus endpoint takes a free port, so the benchmark never
        # collides with a trainer or another benchmark already running here.
        "LLMTRAIN_METRICS_PORT": "0",
        "LLMTRAIN_JOB_NAME": "bench-cpu",
    }
    # No checkpoint directory from the environment: the benchmark must not save anything.
    env.pop("LLMTRAIN_CHECKPOINT_DIR", None)
    return env


def ours_from_records(records: list[dict[str, Any]], settings: Settings) -> Measurement:
    """Throughput over the steps after warm-up, from the trainer's metrics-file records.

    With a logging interval of 1, each `train` record carries the tokens/s since the
    previous record, i.e. of that one step, so the step's wall time is its tokens over that
    rate: the same span, end of one optimizer step to the end of the next, that the
    Hugging Face callback measures.
    """
    by_step = {int(r["step"]): float(r["tokens_per_second"]) for r in records if r.get("kind") == "train"}
    wanted = range(settings.warmup_steps + 1, settings.total_steps + 1)
    missing = [step for step in wanted if step not in by_step]
    if missing:
        raise RuntimeError(f"the trainer's metrics file has no record of steps {missing}")
    return measurement(
        "llmtrain_trainer", [settings.tokens_per_step / by_step[step] for step in wanted], settings.tokens_per_step
    )


def run_ours(settings: Settings, workdir: Path, data_path: Path) -> Measurement:
    """Train with our trainer under torchrun and read its throughput back."""
    metrics_path = workdir / "metrics.jsonl"
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(our_config(settings, data_path, metrics_path)), encoding="utf-8")
    done = subprocess.run(
        torchrun_command(config_path),
        env=trainer_env(settings),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"our trainer exited with {done.returncode}:\n{(done.stdout + done.stderr)[-4000:]}")
    records = [json.loads(line) for line in metrics_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return ours_from_records(records, settings)


# ----------------------------------------------------------------------------- theirs


def theirs_from_step_times(step_ends: dict[int, float], settings: Settings) -> Measurement:
    """Throughput of the steps after warm-up, from the end time of every optimizer step."""
    wanted = range(settings.warmup_steps + 1, settings.total_steps + 1)
    return measurement(
        "transformers.Trainer", [step_ends[step] - step_ends[step - 1] for step in wanted], settings.tokens_per_step
    )


def run_theirs(settings: Settings, workdir: Path, tokens: npt.NDArray[np.uint16]) -> Measurement:
    """Train the equivalent `LlamaForCausalLM` with the Hugging Face `Trainer` in this process."""
    # Imported here so that `--help` and the helpers stay cheap to import.
    from transformers import LlamaForCausalLM, Trainer, TrainerCallback, TrainingArguments

    from llmtrain_trainer.models.hf import llama_config
    from llmtrain_trainer.models.presets import PRESETS

    class StepClock(TrainerCallback):
        """The wall-clock time at the end of every optimizer step, keyed by its number."""

        def __init__(self) -> None:
            self.step_ends: dict[int, float] = {0: time.perf_counter()}

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.step_ends[int(state.global_step)] = time.perf_counter()

    # The same thread count as the subprocess gets through OMP_NUM_THREADS.
    torch.set_num_threads(settings.resolved_threads())
    torch.manual_seed(settings.seed)
    config = llama_config(PRESETS[PRESET])
    config.use_cache = False  # the KV cache is for generation; training only pays for it
    # SDPA, as ours uses; transformers' default too, but spelled out so a change there shows.
    model = LlamaForCausalLM._from_config(  # type: ignore[no-untyped-call]
        config, attn_implementation="sdpa", dtype=torch.float32
    )
    clock = StepClock()
    args = TrainingArguments(
        output_dir=str(workdir / "hf"),
        use_cpu=True,
        max_steps=settings.total_steps,
        per_device_train_batch_size=settings.batch,
        gradient_accumulation_steps=1,
        optim=settings.hf_optim,
        learning_rate=settings.lr,
        weight_decay=settings.weight_decay,
        adam_beta1=settings.betas[0],
        adam_beta2=settings.betas[1],
        adam_epsilon=settings.eps,
        max_grad_norm=settings.grad_clip,
        lr_scheduler_type="cosine",
        warmup_steps=settings.warmup_steps,
        eval_strategy="no",
        save_strategy="no",
        logging_strategy="no",
        report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0,
        seed=settings.seed,
    )
    trainer = Trainer(
        model=model, args=args, train_dataset=TokenWindowDataset(tokens, settings.seq_len), callbacks=[clock]
    )
    trainer.train()
    return theirs_from_step_times(clock.step_ends, settings)


# ----------------------------------------------------------------------------- report


def environment(settings: Settings) -> dict[str, Any]:
    import transformers

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "machine": platform.machine(),
        "processor": platform.processor() or "unknown",
        "cpus": os.cpu_count(),
        "threads": settings.resolved_threads(),
    }


def make_report(settings: Settings, ours: Measurement, theirs: Measurement) -> Report:
    return Report(
        settings,
        ours,
        theirs,
        ours.tokens_per_second / theirs.tokens_per_second,
        ours.median_tokens_per_second / theirs.median_tokens_per_second,
        environment(settings),
    )


def format_report(report: Report) -> str:
    s = report.settings
    lines = [
        f"preset {PRESET}, fp32 on cpu ({report.environment['threads']} threads), batch {s.batch} x seq {s.seq_len},"
        f" {s.measured_steps} steps measured after {s.warmup_steps} warm-up; ours: strategy {s.strategy or 'fsdp'},"
        f" theirs: optim {s.hf_optim}",
        f"torch {report.environment['torch']}, transformers {report.environment['transformers']}",
    ]
    lines.append(
        f"  {'':<22} {'tokens/s (mean)':>16} {'ms/step (mean)':>15} {'tokens/s (median)':>18} {'ms/step (median)':>17}"
    )
    for m in (report.ours, report.theirs):
        lines.append(
            f"  {m.name:<22} {m.tokens_per_second:>16,.0f} {m.step_ms:>15.2f}"
            f" {m.median_tokens_per_second:>18,.0f} {m.median_step_ms:>17.2f}"
        )
    lines.append(f"  {'ratio ours/theirs':<22} {report.ratio:>16.3f} {'':>15} {report.median_ratio:>18.3f}")
    return "\n".join(lines)


def run_benchmark(settings: Settings) -> Report:
    """Both runs, ours first, in one temporary directory that is removed afterwards."""
    from llmtrain_trainer.models.presets import PRESETS

    with tempfile.TemporaryDirectory(prefix="llmtrain-bench-") as tmp:
        workdir = Path(tmp)
        tokens = synthetic_tokens(settings, PRESETS[PRESET].vocab_size)
        data_path = workdir / "tokens.bin"
        tokens.tofile(data_path)
        ours = run_ours(settings, workdir, data_path)
        theirs = run_theirs(settings, workdir, tokens)
    return make_report(settings, ours, theirs)


def parse_args(argv: list[str] | None) -> tuple[Settings, Path | None]:
    defaults = Settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-len", type=int, default=defaults.seq_len, help="tokens per sequence")
    parser.add_argument("--batch", type=int, default=defaults.batch, help="sequences per step")
    parser.add_argument("--warmup", type=int, default=defaults.warmup_steps, help="steps excluded from the figure")
    parser.add_argument("--steps", type=int, default=defaults.measured_steps, help="steps measured after warm-up")
    parser.add_argument(
        "--threads",
        type=int,
        default=defaults.threads,
        help="intra-op threads of both runs (default 1; 0: torch's default for this machine)",
    )
    parser.add_argument(
        "--hf-optim",
        default=defaults.hf_optim,
        help="TrainingArguments.optim of the Hugging Face run (adamw_torch: torch.optim.AdamW)",
    )
    parser.add_argument(
        "--strategy",
        choices=["fsdp", "ddp"],
        help="parallelism.strategy of our run (default: the trainer's default, fsdp)",
    )
    parser.add_argument("--out", type=Path, help="also write the report as JSON to this file")
    args = parser.parse_args(argv)
    if min(args.seq_len, args.batch, args.warmup, args.steps) < 1 or args.threads < 0:
        parser.error("--seq-len, --batch, --warmup and --steps must be >= 1, --threads >= 0")
    settings = Settings(
        seq_len=args.seq_len,
        batch=args.batch,
        warmup_steps=args.warmup,
        measured_steps=args.steps,
        threads=args.threads,
        hf_optim=args.hf_optim,
        strategy=args.strategy,
    )
    return settings, args.out


def main(argv: list[str] | None = None) -> int:
    settings, out = parse_args(argv)
    report = run_benchmark(settings)
    print(format_report(report))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
