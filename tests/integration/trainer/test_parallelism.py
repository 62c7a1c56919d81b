"""DDP, FSDP2 and FSDP2 + tensor parallel train, and their losses are single-process losses.

The single-process run accumulates four micro-batches for the same global batch of 16
sequences, so equal losses at every step mean the gradients (and their reduction across
ranks) are right, not merely that training runs.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from integration.trainer.runs import Launcher, Run

STEPS = 24


def assert_learns(run: Run) -> None:
    assert run.returncode == 0, run.output[-3000:]
    losses = run.losses
    assert sorted(losses) == list(range(1, STEPS + 1))
    # From about ln(512) = 6.24 at the start; a model that does not learn stays there.
    assert losses[1] > 6.0
    assert losses[STEPS] < losses[1] - 0.7


def assert_same_curve(run: Run, reference: Run, rel: float) -> None:
    for step, loss in reference.losses.items():
        assert run.losses[step] == pytest.approx(loss, rel=rel), f"step {step}"


def test_single_process_learns(single_run: Run) -> None:
    assert_learns(single_run)
    evals = [r for r in single_run.records() if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [12, 24]
    assert evals[1]["loss"] < evals[0]["loss"]
    assert evals[1]["perplexity"] == pytest.approx(math.exp(evals[1]["loss"]))


def test_ddp_matches_single_process(ddp_run: Run, single_run: Run) -> None:
    assert_learns(ddp_run)
    assert_same_curve(ddp_run, single_run, rel=1e-5)


def test_fsdp_matches_single_process(fsdp_run: Run, single_run: Run) -> None:
    assert_learns(fsdp_run)
    assert_same_curve(fsdp_run, single_run, rel=1e-5)


def test_fsdp_with_tensor_parallel_on_a_2x2_mesh(launch: Launcher, tmp_path: Path, single_run: Run) -> None:
    def edit(config: dict[str, object]) -> None:
        config["parallelism"] = {"strategy": "fsdp", "tensorParallel": 2, "compile": False}
        config["checkpoint"] = {"interval": 100, "exportHuggingFace": False, "dir": str(tmp_path / "checkpoints")}

    run = launch(tmp_path, 4, edit)
    assert_learns(run)
    assert "dp_shard 2, tp 2" in run.output
    assert_same_curve(run, single_run, rel=1e-4)
