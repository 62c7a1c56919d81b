"""A rank killed mid-run: the whole gang restarts and resumes from its checkpoint; and a
suspended job resumes from its checkpoint. Driven with the CLI and the SDK, observed
through status, kubectl and the pods' logs."""

from __future__ import annotations

import signal
from pathlib import Path

from e2e.surfaces import Cli, checkpoint_steps, resumed_step
from llmtrain import TrainingClient
from support.job_helpers import job_checkpoints, kill_rank, pod_processes, tiny_trainer_job
from testenv.testing import eventually

STEPS = 120


def _checkpointed(client: TrainingClient, name: str, step: int = 20) -> int:
    """Wait until the running job reports a checkpoint at `step` or later; return its step."""

    def ready() -> int | None:
        status = client.get(name).status
        if status is None or status.phase != "Running" or status.checkpoint is None:
            return None
        return status.checkpoint.step if status.checkpoint.step >= step else None

    return eventually(ready, timeout=180, interval=0.5)


def test_a_killed_rank_restarts_the_gang_which_resumes_from_its_checkpoint(
    cli: Cli, client: TrainingClient, token_data: Path, tmp_path: Path
) -> None:
    checkpoints = tmp_path / "ckpt"
    cli.submit(tiny_trainer_job("killed", token_data, checkpoints, steps=STEPS), tmp_path)
    saved = _checkpointed(client, "killed")
    first_pods = {p["metadata"]["uid"] for p in cli.pods("killed")}

    kill_rank("killed", 1, signal.SIGKILL)
    final = client.wait("killed", timeout=300)

    assert final.status is not None and final.status.phase == "Succeeded"
    assert (final.status.restarts, final.status.attempt) == (1, 2)
    second_pods = cli.pods("killed")
    assert {p["metadata"]["labels"]["llmtrain.dev/attempt"] for p in second_pods} == {"2"}
    assert not first_pods & {p["metadata"]["uid"] for p in second_pods}, "rank 0 was restarted with rank 1"
    for rank in (0, 1):
        resumed = resumed_step(cli.rank_log("killed", rank))
        assert resumed is not None and resumed >= saved, f"rank {rank} resumed at {resumed}, checkpoint was {saved}"
    assert checkpoint_steps(job_checkpoints(checkpoints, "killed"))[-1] == STEPS


def test_a_suspended_job_stops_its_pods_and_resumes_from_its_checkpoint(
    cli: Cli, client: TrainingClient, token_data: Path, tmp_path: Path
) -> None:
    checkpoints = tmp_path / "ckpt"
    cli.submit(tiny_trainer_job("paused", token_data, checkpoints, steps=STEPS), tmp_path)
    _checkpointed(client, "paused")

    cli.llmtrain("suspend", "paused")
    suspended = client.wait("paused", until={"Suspended"}, timeout=120)
    assert suspended.status is not None and suspended.status.phase == "Suspended"
    eventually(lambda: not cli.pods("paused") or None, timeout=60)
    assert pod_processes("paused", 0) == [] and pod_processes("paused", 1) == []
    # A suspended trainer saves a checkpoint after its current step (SIGTERM).
    kept = checkpoint_steps(job_checkpoints(checkpoints, "paused"))[-1]
    assert 0 < kept < STEPS

    cli.llmtrain("resume", "paused")
    final = client.wait("paused", timeout=300)
    assert final.status is not None and final.status.phase == "Succeeded"
    assert final.status.attempt == 2
    assert resumed_step(cli.rank_log("paused")) == kept
    assert checkpoint_steps(job_checkpoints(checkpoints, "paused"))[-1] == STEPS
