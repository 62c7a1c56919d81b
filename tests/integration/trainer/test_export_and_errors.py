"""The exported Hugging Face model, and how the trainer refuses what it cannot run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from integration.trainer.runs import Run, report_lines, torchrun_command, trainer_env
from llmtrain.api.trainer import ModelConfig
from llmtrain_trainer.checkpoint import ModelAndOptimizer, damage, load_state, step_dirs
from llmtrain_trainer.models import build_model


def test_exported_model_gives_the_trainers_logits(single_run: Run) -> None:
    assert single_run.returncode == 0, single_run.output[-3000:]
    ours = build_model(ModelConfig(preset="test")).module
    optimizer = torch.optim.AdamW(ours.parameters())
    step, latest = step_dirs(single_run.checkpoints)[0]
    assert step == 24 and damage(latest) is None
    load_state(latest, {"app": ModelAndOptimizer(ours, optimizer)}, rank=0)

    exported = AutoModelForCausalLM.from_pretrained(single_run.checkpoints / "hf", local_files_only=True)
    tokens = torch.randint(0, 512, (2, 32), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, actual = ours(tokens), exported(tokens).logits
    assert type(exported).__name__ == "LlamaForCausalLM"
    # A freshly initialised model would differ by far more: the checkpoint was trained.
    assert not torch.allclose(expected, build_model(ModelConfig(preset="test")).module(tokens), atol=1e-2)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


def run_with(tmp_path: Path, config: object, nproc: int = 1) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return subprocess.run(torchrun_command(path, nproc), env=trainer_env(), capture_output=True, text=True, timeout=300)


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The one report line that reaches the container's termination message."""
    lines = report_lines(done.stderr)
    assert lines and all(line.startswith("llmtrain-trainer: InvalidConfig: ") for line in lines), done.stderr[-3000:]
    return lines[-1]


def test_invalid_config_is_refused_with_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "llmtrain_trainer", "--config", str(tmp_path / "missing.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0 and "cannot read config" in error_line(done)

    (tmp_path / "bad.json").write_text(
        json.dumps({"model": {"preset": "test", "path": "/m"}, "data": {"paths": []}, "optimizer": {"lr": -1}})
    )
    done = subprocess.run(
        [sys.executable, "-m", "llmtrain_trainer", "--config", str(tmp_path / "bad.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = error_line(done)
    assert done.returncode != 0
    assert "model: " in line and "set exactly one of preset" in line
    assert "data.paths: " in line and "optimizer.lr: " in line


def test_unsupported_parallelism_is_refused(corpus: Path, tmp_path: Path) -> None:
    config = {
        "model": {"preset": "test"},
        "data": {"paths": [str(corpus)], "seqLen": 32},
        "parallelism": {"strategy": "fsdp", "pipelineParallel": 2},
    }
    done = run_with(tmp_path, config)
    assert done.returncode != 0
    assert "parallelism.pipelineParallel: Input should be less than or equal to 1" in error_line(done)


def test_a_tokenizer_that_does_not_parse_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "corpus.txt").write_text("some text\n" * 100)
    (tmp_path / "tokenizer.json").write_text("this is not json")
    config = {
        "model": {"preset": "test"},
        "parallelism": {"compile": False},
        "data": {
            "paths": [str(tmp_path / "corpus.txt")],
            "format": "text",
            "seqLen": 16,
            "tokenizer": str(tmp_path / "tokenizer.json"),
        },
    }
    done = run_with(tmp_path, config)
    assert done.returncode == 1
    line = error_line(done)
    assert f"data.tokenizer: {tmp_path / 'tokenizer.json'} is not a tokenizer" in line
