"""Checkpoints: a killed run resumes exactly, on the same or another world size, and SIGTERM saves."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest

from integration.trainer.runs import Launcher, Run, base_config, run_to_end, start_and_signal, write_config


def test_killed_run_resumes_and_continues_the_same_losses(corpus: Path, tmp_path: Path, fsdp_run: Run) -> None:
    path = write_config(tmp_path, base_config(corpus, tmp_path))
    killed = start_and_signal(path, tmp_path, 2, after_step=10, sig=signal.SIGKILL, everyone=True)
    assert killed.returncode != 0
    assert sorted(p.name for p in killed.checkpoints.iterdir()) == ["step-00000008"]
    # What a save killed half-way leaves behind must never be taken for a checkpoint.
    (killed.checkpoints / "step-00000016.tmp").mkdir()
    (killed.checkpoints / "step-00000016.tmp" / "__0_0.distcp").write_bytes(b"torn")

    resumed = run_to_end(path, tmp_path, 2)
    assert resumed.returncode == 0, resumed.output[-3000:]
    assert "resumed from" in resumed.output and "at step 8 (128 samples consumed)" in resumed.output
    steps = [r["step"] for r in resumed.records() if r["kind"] == "train"]
    restart = next(i for i in range(1, len(steps)) if steps[i] <= steps[i - 1])
    assert steps[restart:] == list(range(9, 25))
    # Bit for bit: same weights, optimizer state, schedule position and data order.
    assert resumed.losses == fsdp_run.losses
    assert sorted(p.name for p in resumed.checkpoints.iterdir()) == [
        "hf",
        "step-00000008",
        "step-00000016",
        "step-00000024",
    ]


def test_resume_on_another_world_size_and_strategy(launch: Launcher, tmp_path: Path, ddp_run: Run) -> None:
    shutil.copytree(ddp_run.checkpoints / "step-00000016", tmp_path / "checkpoints" / "step-00000016")
    run = launch(tmp_path, 1)  # FSDP on one process, from DDP on two
    assert run.returncode == 0, run.output[-3000:]
    assert "at step 16 (256 samples consumed)" in run.output
    assert sorted(run.losses) == list(range(17, 25))
    for step, loss in run.losses.items():
        assert loss == pytest.approx(ddp_run.losses[step], rel=1e-5), f"step {step}"


def test_sigterm_saves_a_checkpoint_and_exits_non_zero(corpus: Path, tmp_path: Path) -> None:
    config = base_config(corpus, tmp_path)
    config["schedule"]["steps"] = 1000
    config["checkpoint"]["interval"] = 500
    path = write_config(tmp_path, config)
    stopped = start_and_signal(path, tmp_path, 2, after_step=3, sig=signal.SIGTERM, everyone=False)
    assert stopped.returncode != 0
    assert "stopped by SIGTERM" in stopped.output
    saved = [p.name for p in stopped.checkpoints.iterdir()]
    assert len(saved) == 1 and saved[0].startswith("step-") and not saved[0].endswith(".tmp")
    assert int(saved[0].removeprefix("step-")) >= 3
