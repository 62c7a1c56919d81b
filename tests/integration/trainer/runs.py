"""Trainer runs under real torchrun with gloo on the CPU, for the integration tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmtrain.api.contract import REPORT_PREFIX, worker_process_name
from testenv.procs import process_name

VOCAB = 512


def base_config(corpus: Path, run_dir: Path) -> dict[str, Any]:
    """24 steps of 16 sequences x 32 tokens, a checkpoint every 8 steps, every step logged."""
    return {
        "model": {"preset": "test"},
        "data": {"paths": [str(corpus)], "seqLen": 32, "numWorkers": 0, "validationFraction": 0.01},
        "batch": {"microBatchSize": 4, "globalBatchSize": 16},
        "precision": "fp32",
        "parallelism": {"strategy": "fsdp", "compile": False},
        "optimizer": {"lr": 3e-3},
        "schedule": {"steps": 24, "warmupSteps": 3},
        "checkpoint": {"interval": 8, "keep": 3, "dir": str(run_dir / "checkpoints")},
        "eval": {"interval": 12, "steps": 2},
        "logging": {"interval": 1, "metricsFile": str(run_dir / "metrics.jsonl")},
    }


@dataclass
class Run:
    """A finished (or stopped) trainer run."""

    dir: Path
    returncode: int
    output: str

    @property
    def losses(self) -> dict[int, float]:
        """Training loss by step; a resumed run's later records replace the earlier ones."""
        return {r["step"]: r["loss"] for r in self.records() if r["kind"] == "train"}

    def records(self) -> list[dict[str, Any]]:
        path = self.dir / "metrics.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    @property
    def checkpoints(self) -> Path:
        return self.dir / "checkpoints"


def torchrun_command(config_path: Path, nproc: int) -> list[str]:
    """What a pod runs: torchrun through llmtrain-torchrun, which reports how workers ended."""
    return [
        sys.executable,
        "-m",
        "llmtrain_trainer.launch",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "llmtrain_trainer",
        "--config",
        str(config_path),
    ]


def trainer_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    # Port 0: each run's metrics server takes a free port, so runs never collide.
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "LLMTRAIN_METRICS_PORT": "0",
        "PYTHONUNBUFFERED": "1",
        **(extra or {}),
    }


def report_lines(output: str) -> list[str]:
    """The trainer's and llmtrain-torchrun's report lines, in order (the last is the container's)."""
    return [line for line in output.splitlines() if line.startswith(REPORT_PREFIX)]


def write_config(run_dir: Path, config: dict[str, Any]) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "config.json"
    path.write_text(json.dumps(config))
    return path


Launcher = Callable[..., Run]


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (torchrun starts its workers in sessions of their own)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found.extend(children)
        todo.extend(children)
    return found


def workers_below(pid: int, nproc: int) -> dict[int, int]:
    """The training processes below torchrun's `pid` by rank, from the names they give themselves."""
    names = {worker_process_name(rank): rank for rank in range(nproc)}
    return {names[name]: child for child in descendants(pid) if (name := process_name(child)) in names}


def run_to_end(config_path: Path, run_dir: Path, nproc: int, env: dict[str, str] | None = None) -> Run:
    """Run the trainer until it exits."""
    done = subprocess.run(
        torchrun_command(config_path, nproc), env=trainer_env(env), capture_output=True, text=True, timeout=300
    )
    return Run(run_dir, done.returncode, done.stdout + done.stderr)


def start_and_signal(
    config_path: Path,
    run_dir: Path,
    nproc: int,
    after_step: int,
    sig: signal.Signals,
    everyone: bool,
    one_worker: bool = False,
) -> Run:
    """Start a run, send `sig` as soon as rank 0 logs step `after_step`, and wait for the exit.

    With `everyone` torchrun and every worker get the signal (a node dying); with
    `one_worker` only the worker of the last rank does (the OOM killer's choice); otherwise only
    torchrun does, as from the kubelet.
    """
    process = subprocess.Popen(
        torchrun_command(config_path, nproc),
        env=trainer_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if f"INFO step {after_step}/" in line:
            workers = workers_below(process.pid, nproc)
            targets = (
                [process.pid, *workers.values()] if everyone else [workers[nproc - 1]] if one_worker else [process.pid]
            )
            for pid in targets:
                os.kill(pid, sig)
            break
    else:
        process.wait()
        raise AssertionError(f"the run ended before step {after_step}: {''.join(lines)[-3000:]}")
    rest, _ = process.communicate(timeout=120)
    return Run(run_dir, process.returncode, "".join(lines) + rest)


def word_tokenizer(path: Path, words: list[str]) -> Path:
    """A word-level tokenizer.json over `words`, trained in code."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(
        [" ".join(words)], trainer=trainers.WordLevelTrainer(special_tokens=["<unk>", "</s>"])
    )
    tokenizer.save(str(path))
    return path
