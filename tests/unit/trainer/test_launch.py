"""llmtrain-torchrun's verdict on a failed worker: its report, and the exit code a kubelet records."""

from __future__ import annotations

import json
from pathlib import Path

from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure

from llmtrain_trainer.launch import first_cause, report_failure


def test_a_worker_killed_by_a_signal_exits_128_plus_the_signal() -> None:
    report, code = report_failure(3, ProcessFailure(local_rank=1, pid=4242, exitcode=-9, error_file=""))
    assert code == 137
    assert report.line == (
        "llmtrain-trainer: WorkerKilled: rank 3 was killed by SIGKILL, probably out of memory "
        "(the kernel's OOM killer sends SIGKILL)"
    )


def test_the_workers_own_report_is_kept_with_its_rank(tmp_path: Path) -> None:
    error_file = tmp_path / "error.json"
    worker = "llmtrain-trainer: InvalidConfig: data.paths: /d matches no file"
    error_file.write_text(json.dumps({"message": worker, "timestamp": 1}))
    report, code = report_failure(0, ProcessFailure(local_rank=0, pid=1, exitcode=1, error_file=str(error_file)))
    assert (code, report.reason, report.summary) == (1, "InvalidConfig", "rank 0: data.paths: /d matches no file")
    assert report.permanent


def test_a_worker_that_left_no_report_still_gets_one_line() -> None:
    report, code = report_failure(2, ProcessFailure(local_rank=0, pid=1, exitcode=3, error_file=""))
    assert (code, report.line) == (3, "llmtrain-trainer: TrainingError: rank 2 exited with code 3")


def test_a_worker_that_stopped_after_the_gangs_checkpoint_is_no_failure() -> None:
    report, code = report_failure(1, ProcessFailure(local_rank=0, pid=1, exitcode=143, error_file=""))
    assert (code, report.reason, report.permanent) == (143, "Stopped", False)
    assert report.summary == "rank 1 saved a checkpoint and stopped: a pod of the job was asked to stop"


def _failure(exitcode: int, timestamp: int) -> ProcessFailure:
    failure = ProcessFailure(local_rank=0, pid=1, exitcode=exitcode, error_file="")
    failure.timestamp = timestamp
    return failure


def test_the_cause_is_the_killed_worker_not_the_peer_torchrun_stopped_in_the_same_second() -> None:
    # Rank 0 was SIGTERMed by torchrun after rank 1 was SIGKILLed; both are stamped 100.
    error = ChildFailedError("train", {0: _failure(-15, 100), 1: _failure(-9, 100)})
    rank, failure = first_cause(error.failures)
    assert (rank, failure.exitcode) == (1, -9)


def test_when_every_worker_was_stopped_the_first_stop_is_the_cause() -> None:
    error = ChildFailedError("train", {0: _failure(-15, 101), 1: _failure(-15, 100)})
    assert first_cause(error.failures)[0] == 1


def test_a_worker_killed_by_a_signal_is_the_cause_though_its_peer_failed_earlier() -> None:
    # The forked peer's collective failed and it exited 1 a second before torchrun saw rank 1 killed.
    error = ChildFailedError("train", {0: _failure(1, 100), 1: _failure(-9, 101)})
    assert first_cause(error.failures)[0] == 1
