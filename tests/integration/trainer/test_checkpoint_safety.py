"""Checkpoints that belong to one job, damaged checkpoints, resumeFrom, and workers killed by a signal."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pytest

from integration.trainer.runs import (
    Launcher,
    Run,
    base_config,
    report_lines,
    run_to_end,
    start_and_signal,
    write_config,
)
from llmtrain.api.contract import MANIFEST_FILE, OWNER_FILE

JOB = {"LLMTRAIN_JOB_NAME": "job-a", "LLMTRAIN_JOB_NAMESPACE": "team", "LLMTRAIN_JOB_UID": "uid-a"}


def truncate(step_dir: Path) -> Path:
    shard = sorted(step_dir.glob("*.distcp"))[0]
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    return shard


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in directory.rglob("*")
        if p.is_file()
    }


def test_a_truncated_newest_checkpoint_resumes_from_the_one_before(
    launch: Launcher, tmp_path: Path, fsdp_run: Run
) -> None:
    shutil.copytree(fsdp_run.checkpoints, tmp_path / "checkpoints")
    shard = truncate(tmp_path / "checkpoints" / "step-00000024")
    run = launch(tmp_path, 2)
    assert run.returncode == 0, run.output[-3000:]
    assert f"skipping checkpoint {tmp_path / 'checkpoints' / 'step-00000024'}: {shard.name} has" in run.output
    assert "at step 16 (256 samples consumed)" in run.output
    assert run.losses == {step: loss for step, loss in fsdp_run.losses.items() if step > 16}
    # The damaged step was written again, whole.
    assert (tmp_path / "checkpoints" / "step-00000024" / MANIFEST_FILE).is_file()
    assert shard.stat().st_size == (fsdp_run.checkpoints / "step-00000024" / shard.name).stat().st_size


def test_a_checkpoint_whose_metadata_does_not_load_is_skipped(launch: Launcher, tmp_path: Path, fsdp_run: Run) -> None:
    shutil.copytree(fsdp_run.checkpoints, tmp_path / "checkpoints")
    metadata = tmp_path / "checkpoints" / "step-00000024" / ".metadata"
    metadata.write_bytes(bytes(metadata.stat().st_size))  # same size, nothing but zeros
    run = launch(tmp_path, 2)
    assert run.returncode == 0, run.output[-3000:]
    assert "step-00000024: does not load" in run.output and "at step 16 (256 samples consumed)" in run.output


def test_when_no_checkpoint_loads_the_reason_is_one_line(launch: Launcher, tmp_path: Path, fsdp_run: Run) -> None:
    shutil.copytree(fsdp_run.checkpoints, tmp_path / "checkpoints")
    for step in (8, 16, 24):
        truncate(tmp_path / "checkpoints" / f"step-{step:08d}")
    run = launch(tmp_path, 2)
    assert run.returncode == 1
    line = report_lines(run.output)[-1]
    assert line.startswith("llmtrain-trainer: NoLoadableCheckpoint: rank ")
    assert "none of the 3 checkpoints in" in line and "step-00000008: __0_0.distcp has" in line


def test_a_job_never_loads_or_prunes_another_jobs_checkpoints(corpus: Path, tmp_path: Path, fsdp_run: Run) -> None:
    config = base_config(corpus, tmp_path)
    config["schedule"]["steps"] = 8
    path = write_config(tmp_path, config)
    first = run_to_end(path, tmp_path, 1, env=JOB)
    assert first.returncode == 0, first.output[-3000:]
    owner = json.loads((first.checkpoints / OWNER_FILE).read_text())
    assert owner == {"namespace": "team", "name": "job-a", "uid": "uid-a"}
    before = snapshot(first.checkpoints)

    stranger = run_to_end(path, tmp_path, 1, env={**JOB, "LLMTRAIN_JOB_NAME": "job-b", "LLMTRAIN_JOB_UID": "uid-b"})
    assert stranger.returncode == 1
    line = report_lines(stranger.output)[-1]
    assert line.startswith("llmtrain-trainer: CheckpointOwnedByAnotherJob: rank 0: ")
    assert "holds the checkpoints of job team/job-a (uid uid-a), not of this job team/job-b (uid uid-b)" in line
    assert "resumeFrom" in line
    assert snapshot(first.checkpoints) == before

    # Checkpoints that no job claims (copied in by hand) are not taken either.
    unclaimed = tmp_path / "unclaimed"
    shutil.copytree(fsdp_run.checkpoints, unclaimed / "checkpoints")
    config["checkpoint"]["dir"] = str(unclaimed / "checkpoints")
    again = run_to_end(write_config(unclaimed, config), unclaimed, 1, env=JOB)
    assert again.returncode == 1 and "holds checkpoints that no job claims" in report_lines(again.output)[-1]


def test_resume_from_another_jobs_checkpoint_reads_it_and_never_writes_there(
    launch: Launcher, tmp_path: Path, fsdp_run: Run
) -> None:
    before = snapshot(fsdp_run.checkpoints)

    def continue_from(config: dict[str, object]) -> None:
        config["schedule"]["steps"] = 28  # type: ignore[index]
        config["checkpoint"]["resumeFrom"] = str(fsdp_run.checkpoints)  # type: ignore[index]

    continued = launch(tmp_path / "continued", 2, continue_from)
    assert continued.returncode == 0, continued.output[-3000:]
    assert "at step 24 (384 samples consumed)" in continued.output
    assert sorted(continued.losses) == [25, 26, 27, 28]
    assert (continued.checkpoints / "step-00000028").is_dir()

    def weights_only(config: dict[str, object]) -> None:
        config["schedule"]["steps"] = 2  # type: ignore[index]
        config["checkpoint"].update(  # type: ignore[attr-defined]
            resumeFrom=str(fsdp_run.checkpoints / "step-00000024"), resumeWeightsOnly=True
        )

    finetuned = launch(tmp_path / "finetuned", 2, weights_only)
    assert finetuned.returncode == 0, finetuned.output[-3000:]
    assert "starting at step 0 from the model weights of" in finetuned.output
    # Step 1 starts from the trained weights: nearer the trained loss than a fresh model's.
    fresh, trained = fsdp_run.losses[1], fsdp_run.losses[24]
    assert finetuned.losses[1] < trained + (fresh - trained) / 4, (finetuned.losses[1], fresh, trained)
    assert snapshot(fsdp_run.checkpoints) == before

    missing = launch(tmp_path / "missing", 1, lambda c: c["checkpoint"].update(resumeFrom=str(tmp_path / "nothing")))
    assert missing.returncode == 1
    assert report_lines(missing.output)[-1].startswith(
        "llmtrain-trainer: InvalidConfig: rank 0: checkpoint.resumeFrom: "
    )


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSEGV])
def test_a_killed_worker_sets_the_exit_code_and_names_the_signal(
    corpus: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    config = base_config(corpus, tmp_path)
    config["schedule"]["steps"] = 1000
    killed = start_and_signal(
        write_config(tmp_path, config), tmp_path, 2, after_step=2, sig=sig, everyone=False, one_worker=True
    )
    assert killed.returncode == 128 + sig
    line = report_lines(killed.output)[-1]
    assert line.startswith(f"llmtrain-trainer: WorkerKilled: rank 1 was killed by {sig.name}")
    if sig == signal.SIGKILL:
        assert line.endswith("probably out of memory (the kernel's OOM killer sends SIGKILL)")
