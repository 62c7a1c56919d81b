"""The trainer's reports: one line for people and programs, the detail bounded from its end."""

from __future__ import annotations

from llmtrain.api.contract import (
    TERMINATION_MESSAGE_LIMIT,
    TrainerReport,
    job_checkpoint_dir,
    killed_summary,
    step_path,
)


def test_a_report_round_trips_through_its_text() -> None:
    report = TrainerReport(
        "TrainingError", "rank 2: RuntimeError: NCCL timeout", "Traceback ...\nRuntimeError: NCCL timeout"
    )
    assert TrainerReport.parse(report.render()) == report
    assert report.render().splitlines()[0] == "llmtrain-trainer: TrainingError: rank 2: RuntimeError: NCCL timeout"


def test_the_last_report_of_a_log_tail_wins() -> None:
    tail = (
        "INFO step 10\nllmtrain-trainer: InvalidConfig: data.paths: /d matches no file\n"
        "W torchrun: worker failed\nllmtrain-trainer: InvalidConfig: rank 0: data.paths: /d matches no file"
    )
    parsed = TrainerReport.parse(tail)
    assert parsed is not None and parsed.summary == "rank 0: data.paths: /d matches no file" and parsed.permanent
    assert TrainerReport.parse("Traceback ...\nValueError: x") is None


def test_rendering_keeps_the_line_and_the_end_of_a_long_detail() -> None:
    detail = "\n".join(f"frame {i}" for i in range(5000)) + "\nRuntimeError: the cause"
    text = TrainerReport("TrainingError", "rank 0: RuntimeError: the cause", detail).render()
    assert len(text.encode()) <= TERMINATION_MESSAGE_LIMIT
    assert text.startswith("llmtrain-trainer: TrainingError: rank 0: RuntimeError: the cause\n…")
    assert text.endswith("RuntimeError: the cause")
    huge_line = TrainerReport("TrainingError", "x" * 10_000).render()
    assert len(huge_line.encode()) <= TERMINATION_MESSAGE_LIMIT and "\n" not in huge_line


def test_only_configuration_and_checkpoint_ownership_are_permanent() -> None:
    assert TrainerReport("CheckpointOwnedByAnotherJob", "x").permanent
    assert TrainerReport("NoLoadableCheckpoint", "x").permanent
    assert not TrainerReport("TrainingError", "x").permanent and not TrainerReport("WorkerKilled", "x").permanent


def test_signals_are_named_with_a_hint() -> None:
    assert (
        killed_summary("rank 3", 9)
        == "rank 3 was killed by SIGKILL, probably out of memory (the kernel's OOM killer sends SIGKILL)"
    )
    assert killed_summary("a worker", 15) == "a worker was killed by SIGTERM"
    assert killed_summary("a worker", 99) == "a worker was killed by signal 99"


def test_each_job_has_its_own_checkpoint_directory() -> None:
    assert job_checkpoint_dir("/checkpoints/", "ml", "gpt") == "/checkpoints/ml/gpt"
    assert step_path("/checkpoints/ml/gpt", 300) == "/checkpoints/ml/gpt/step-00000300"
