"""`llmtrain-torchrun`: torchrun, reporting how its training processes ended.

torchrun exits 1 whatever happened to a worker, so a worker killed by the out-of-memory
killer looks like a Python error, and its reason is buried in a log banner. This runs
torchrun's own launcher (same arguments, same PET_* environment) and, when a worker
fails, exits with that worker's code (128 + the signal for a killed one, as a shell does)
and writes the worker's `TrainerReport` to the termination log and stderr, so that the
operator's restart policy and `kubectl describe pod` see the training process.

With `--max-restarts` (runPolicy.recovery InPlace), torchrun's agent restarts failed workers
inside the pod; this agent records each restart's cause for rank 0 (`restarts`), never
restarts after a failure that no retry can fix, such as an invalid config, and leaves the
rendezvous when its pod is stopped, so that the other pods' agents take in a replacement at
once.

The built-in trainer (`-m llmtrain_trainer`) is not run as a new interpreter per worker:
the workers are forked from a fork server that has imported torch and the trainer once per
pod, so a worker restarted in place skips the seconds those imports take. A custom command
runs as torchrun runs it.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch.distributed.launcher.api as torch_launcher
from torch.distributed import run as torchrun
from torch.distributed.elastic.agent.server.api import RunResult, WorkerGroup, WorkerState
from torch.distributed.elastic.agent.server.local_elastic_agent import LocalElasticAgent
from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure
from torch.distributed.elastic.rendezvous.dynamic_rendezvous import DynamicRendezvousHandler, _RendezvousExitOp
from torch.distributed.launcher.api import LaunchConfig

from llmtrain.api.contract import (
    LAUNCH_ERROR,
    SIGNAL_EXIT_BASE,
    STOPPED,
    TERMINATION_LOG,
    TRAINING_ERROR,
    WORKER_KILLED,
    TrainerReport,
    killed_summary,
)
from llmtrain_trainer.restarts import RestartRecord, record_failure
from llmtrain_trainer.worker import run_worker

log = logging.getLogger("llmtrain_trainer.launch")
TRAINER_MODULE = "llmtrain_trainer"
WARM_MODULES = ["llmtrain_trainer.__main__"]
"""What the fork server imports before it forks the first worker: torch and the trainer."""
_torchrun_config = torchrun.config_from_args


def first_cause(failures: Mapping[int, ProcessFailure]) -> tuple[int, ProcessFailure]:
    """The rank whose failure caused the others. Once a worker fails, torchrun stops the rest
    with SIGTERM, and a failure without an error file is stamped to the second: the SIGTERMed
    workers are effects, and may share the cause's timestamp. So the cause is a worker killed
    by another signal (its peers' collectives failed because it was gone), else the earliest
    failure that is not a SIGTERM, unless every failure is one (the pod was stopped)."""
    causes = [(rank, f) for rank, f in failures.items() if f.exitcode != -signal.SIGTERM] or list(failures.items())
    return min(causes, key=lambda ranked: (ranked[1].exitcode >= 0, ranked[1].timestamp, ranked[0]))


def every_failure(
    context: object, failures: dict[int, ProcessFailure], global_ranks: list[int]
) -> dict[int, ProcessFailure]:
    """`failures` with every other worker that has exited non-zero, by global rank.

    For forked workers torchrun reports only the first exit it notices, which is often a
    peer whose collective failed, not the worker the OOM killer took. The processes are
    in the context's private `_pc`; should that change, only the first failure is known.
    """
    processes = getattr(getattr(context, "_pc", None), "processes", None) or []
    error_files: Mapping[int, str] = getattr(context, "error_files", {})
    complete = dict(failures)
    for local_rank, process in enumerate(processes):
        rank, code = global_ranks[local_rank], process.exitcode
        if rank not in complete and code not in (None, 0):
            complete[rank] = ProcessFailure(local_rank, process.pid, code, error_files.get(local_rank, ""))
    return complete


def report_failure(rank: int, failure: ProcessFailure) -> tuple[TrainerReport, int]:
    """The report and container exit code for the first worker that failed."""
    if failure.exitcode < 0:
        signum = -failure.exitcode
        return TrainerReport(WORKER_KILLED, killed_summary(f"rank {rank}", signum)), SIGNAL_EXIT_BASE + signum
    own = TrainerReport.parse(failure.message) if isinstance(failure.message, str) else None
    if own is not None:
        return TrainerReport(own.reason, f"rank {rank}: {own.summary}", own.detail), failure.exitcode
    if failure.exitcode == SIGNAL_EXIT_BASE + signal.SIGTERM:
        stopped = f"rank {rank} saved a checkpoint and stopped: a pod of the job was asked to stop"
        return TrainerReport(STOPPED, stopped), failure.exitcode
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


class RecordingAgent(LocalElasticAgent):
    """torchrun's agent, which before restarting failed workers records why (or gives up at
    once when the failure is permanent)."""

    def _monitor_workers(self, worker_group: WorkerGroup) -> RunResult:
        result: RunResult = super()._monitor_workers(worker_group)
        if result.state != WorkerState.FAILED or not result.failures:
            return result
        global_ranks = [worker.global_rank for worker in worker_group.workers]
        result = dataclasses.replace(result, failures=every_failure(self._pcontext, result.failures, global_ranks))
        if self._remaining_restarts <= 0:
            return result
        rank, failure = first_cause(result.failures)
        report, _ = report_failure(rank, failure)
        if report.permanent:
            log.info("not restarting the workers: %s", report.line)
            self._remaining_restarts = 0
        elif self._store is not None:
            killed = failure.exitcode < 0
            # The operator's node rank: the rendezvous numbers the agents its own way.
            node = int(os.environ.get("PET_NODE_RANK", worker_group.group_rank))
            record = RestartRecord(rank, node, report.reason, report.summary, killed, float(failure.timestamp))
            record_failure(self._store.underlying_store, record)
        return result

    def _shutdown(self, *args: Any, **kwargs: Any) -> None:
        super()._shutdown(*args, **kwargs)
        leave_rendezvous(self._worker_group.spec.rdzv_handler)


def warm_config(args: argparse.Namespace) -> tuple[LaunchConfig, Callable[..., None] | str, list[str]]:
    """torchrun's launch config and entry point, with the built-in trainer forked from a warm
    fork server instead of started as `python -m llmtrain_trainer`."""
    config, entrypoint, entry_args = _torchrun_config(args)
    if not (args.module and args.training_script == TRAINER_MODULE and not args.no_python):
        return config, entrypoint, entry_args
    config.start_method = "forkserver"
    multiprocessing.set_forkserver_preload(WARM_MODULES)
    return config, run_worker, list(args.training_script_args)


def leave_rendezvous(handler: object) -> None:
    """Take this node out of the rendezvous's participants as its next round would, so that
    the peers' next round (with a replacement pod) does not wait for this node's keep-alive
    to expire, 15 s by default. These are private parts of torch's c10d rendezvous, hence
    the care: should they change, the peers only wait longer."""
    if not isinstance(handler, DynamicRendezvousHandler):
        return
    try:
        handler._stop_heartbeats()
        deadline = handler._get_deadline(handler._settings.timeout.close)
        handler._op_executor.run(_RendezvousExitOp(), deadline)
    except Exception as error:  # noqa: BLE001 - leaving early is an optimisation, never a failure
        log.warning("did not leave the rendezvous (the peers wait for its keep-alive to expire): %s", error)


def main(argv: list[str] | None = None) -> int:
    args = torchrun.parse_args(argv)  # type: ignore[no-untyped-call]
    # torchrun builds its agent and its entry point inside run(), with no hook to choose either.
    torch_launcher.LocalElasticAgent = RecordingAgent  # type: ignore[attr-defined]
    torchrun.config_from_args = warm_config
    try:
        torchrun.run(args)  # type: ignore[no-untyped-call]
    except ChildFailedError as e:
        report, code = report_failure(*first_cause(e.failures))
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
