"""Jobs side by side, deleted while running, and asking for more than any node has; driven
with kubectl, the CLI and the SDK."""

from __future__ import annotations

import json
import os
from pathlib import Path

from e2e.surfaces import Cli, checkpoint_steps, resumed_step
from llmtrain import LLMTrainingJob, TrainingClient
from support.job_helpers import command_job, job_checkpoints, pod_processes, shell, tiny_trainer_job
from testenv.testing import eventually

SLEEP = shell("sleep 600")


def test_two_jobs_run_at_once_without_interfering(
    cli: Cli, client: TrainingClient, token_data: Path, tmp_path: Path
) -> None:
    steps = {"left": 60, "right": 90}
    for name, count in steps.items():
        client.create(LLMTrainingJob.model_validate(tiny_trainer_job(name, token_data, tmp_path / name, steps=count)))

    def both_running() -> bool | None:
        phases = {name: (client.get(name).status or None) for name in steps}
        return all(s is not None and s.phase == "Running" for s in phases.values()) or None

    eventually(both_running, timeout=180, interval=0.5)
    finals = {name: client.wait(name, timeout=300) for name in steps}

    for name, count in steps.items():
        status = finals[name].status
        assert status is not None and status.phase == "Succeeded", (name, status)
        assert status.restarts == 0 and status.attempt == 1
        assert checkpoint_steps(job_checkpoints(tmp_path / name, name))[-1] == count, (
            "each job wrote its own checkpoints"
        )
        log = cli.rank_log(name)
        assert f"training {name} steps 0..{count}: world 2" in log
        assert resumed_step(log) is None, "neither job picked up the other's checkpoint"
        # Each gang meets at its own rank 0.
        env = {e["name"]: e.get("value") for e in cli.pods(name)[0]["spec"]["containers"][0]["env"]}
        assert env["PET_MASTER_ADDR"].startswith(f"{name}-node-0.{name}.")


def test_deleting_a_running_job_stops_its_processes_and_leaves_nothing_behind(cli: Cli, client: TrainingClient) -> None:
    cli.kubectl("apply", "-f", "-", input=json.dumps(command_job("doomed", SLEEP)))
    eventually(lambda: ((s := client.get("doomed").status) is not None and s.phase == "Running") or None, timeout=120)
    pids = eventually(
        lambda: ((p := pod_processes("doomed", 0) + pod_processes("doomed", 1)) and len(p) >= 2 and p) or None
    )
    # A command job has no trainer ConfigMap: its children are the pods and the headless Service.
    assert set(cli.children("doomed")) == {"Pod/doomed-node-0", "Pod/doomed-node-1", "Service/doomed"}

    cli.llmtrain("delete", "doomed", "--wait", "--timeout=2m")

    gone = cli.llmtrain("get", "doomed", check=False)
    assert gone.returncode != 0 and "not found" in (gone.stdout + gone.stderr).lower()
    # The Service and ConfigMap go with the job through their owner references (garbage collector).
    eventually(lambda: not cli.children("doomed") or None, timeout=60)
    eventually(lambda: not any(_alive(pid) for pid in pids) or None, timeout=30)
    assert pod_processes("doomed", 0) == [] and pod_processes("doomed", 1) == []


def test_a_job_asking_for_more_gpus_than_any_node_has_stays_pending_with_the_reason(
    cli: Cli, client: TrainingClient
) -> None:
    cli.kubectl("apply", "-f", "-", input=json.dumps(command_job("greedy", SLEEP, resources={"gpus": 16})))

    def unschedulable() -> LLMTrainingJob | None:
        job = client.get("greedy")
        conditions = (job.status.conditions if job.status else None) or []
        return job if any(c.reason == "Unschedulable" for c in conditions) else None

    job = eventually(unschedulable, timeout=120, interval=0.5)
    assert job.status is not None and job.status.phase == "Pending"
    running = next(c for c in job.status.conditions or [] if c.type == "Running")
    assert "Insufficient nvidia.com/gpu" in running.message
    described = cli.llmtrain("describe", "greedy").stdout
    assert "Insufficient nvidia.com/gpu" in described
    assert {p["status"]["phase"] for p in cli.pods("greedy")} == {"Pending"}
    assert cli.kubectl("get", "ltj", "greedy", "-o", "jsonpath={.status.phase}").stdout == "Pending"


def _alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z" and os.path.exists(f"/proc/{pid}")
