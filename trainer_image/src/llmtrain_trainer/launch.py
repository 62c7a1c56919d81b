"""`llmtrain-torchrun`: torchrun, reporting how its training processes ended.

torchrun exits 1 whatever happened to a worker, so a worker killed by the out-of-memory
killer looks like a Python error, and its reason is buried in a log banner. This runs
torchrun's own launcher (same arguments, same PET_* environment) and, when a worker
fails, exits with that worker's code (128 + the signal for a killed one, as a shell does)
and writes the worker's `TrainerReport` to the termination log and stderr, so that the
operator's restart policy and `kubectl describe pod` see the training process.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from torch.distributed import run as torchrun
from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure

from llmtrain.api.contract import (
    LAUNCH_ERROR,
    SIGNAL_EXIT_BASE,
    TERMINATION_LOG,
    TRAINING_ERROR,
    WORKER_KILLED,
    TrainerReport,
    killed_summary,
)


def first_cause(error: ChildFailedError) -> tuple[int, ProcessFailure]:
    """The rank whose failure caused the others. Once a worker fails, torchrun stops the rest
    with SIGTERM, and a failure without an error file is stamped to the second: the SIGTERMed
    workers are effects, and may share the cause's timestamp. So the cause is the earliest
    failure that is not a SIGTERM, unless every failure is one (the pod was stopped)."""
    causes = [(rank, f) for rank, f in error.failures.items() if f.exitcode != -signal.SIGTERM]
    if not causes:
        return error.get_first_failure()
    return min(causes, key=lambda ranked: (ranked[1].timestamp, ranked[0]))


def report_failure(rank: int, failure: ProcessFailure) -> tuple[TrainerReport, int]:
    """The report and container exit code for the first worker that failed."""
    if failure.exitcode < 0:
        signum = -failure.exitcode
        return TrainerReport(WORKER_KILLED, killed_summary(f"rank {rank}", signum)), SIGNAL_EXIT_BASE + signum
    own = TrainerReport.parse(failure.message) if isinstance(failure.message, str) else None
    if own is not None:
        return TrainerReport(own.reason, f"rank {rank}: {own.summary}", own.detail), failure.exitcode
    return TrainerReport(TRAINING_ERROR, f"rank {rank} exited with code {failure.exitcode}"), failure.exitcode


def write_report(report: TrainerReport) -> None:
    """Stderr always; the termination file when the container has one."""
    # The workers are gone; a SIGTERM now (the pod being deleted) must not cut the report
    # short, or the kubelet would fall back to the log's tail.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print(report.render(), file=sys.stderr, flush=True)
    path = Path(TERMINATION_LOG)
    if path.exists() and os.access(path, os.W_OK):
        path.write_text(report.render(), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = torchrun.parse_args(argv)  # type: ignore[no-untyped-call]
    try:
        torchrun.run(args)  # type: ignore[no-untyped-call]
    except ChildFailedError as e:
        report, code = report_failure(*first_cause(e))
        write_report(report)
        return code
    except SignalException as e:
        # The pod was asked to stop; torchrun has already passed the signal on to the workers.
        return SIGNAL_EXIT_BASE + int(e.sigval)
    except Exception as e:  # noqa: BLE001 - the rendezvous and the agent fail in many ways
        write_report(TrainerReport(LAUNCH_ERROR, f"torchrun: {type(e).__name__}: {e}".splitlines()[0]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
