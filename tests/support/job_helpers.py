"""Helpers for tests that run jobs on the local cluster: job manifests, waiting on status,
and finding the processes the node agent started for a pod."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from llmtrain.api.contract import worker_process_name
from llmtrain.api.names import pod_selector
from testenv import procs
from testenv.controlplane import ControlPlane
from testenv.polling import eventually

Job = dict[str, Any]
TEST_VOCAB = 512
"""Vocabulary of the trainer's test preset."""


def write_token_corpus(directory: Path, tokens: int = 200_000) -> Path:
    """A uint16 token file with a learnable pattern (so the loss falls)."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    phrases = rng.integers(0, TEST_VOCAB, size=(64, 16), dtype=np.uint16)
    stream = phrases[rng.integers(0, len(phrases), size=tokens // 16)].reshape(-1)
    path = directory / "tokens.bin"
    stream.tofile(path)
    return path


def tiny_trainer_job(
    name: str, data_dir: Path, checkpoint_dir: Path, *, steps: int = 200, nodes: int = 2, **spec: Any
) -> Job:
    """The test preset on 2 nodes x 1 process with gloo, data and checkpoints on host paths."""
    job: Job = {
        "apiVersion": "llmtrain.dev/v1alpha1",
        "kind": "LLMTrainingJob",
        "metadata": {"name": name},
        "spec": {
            "nodes": nodes,
            "procsPerNode": 1,
            "trainer": {
                "model": {"preset": "test"},
                "data": {"paths": [f"{data_dir}/tokens.bin"], "seqLen": 32, "numWorkers": 0},
                "optimizer": {"lr": 0.003, "fused": False},
                "schedule": {"steps": steps, "warmupSteps": 5},
                "batch": {"microBatchSize": 4},
                "precision": "fp32",
                "parallelism": {"strategy": "ddp", "compile": False},
                "checkpoint": {"interval": 20, "keep": 2, "exportHuggingFace": False},
                "eval": {"interval": 1000, "steps": 1},
                "logging": {"interval": 5},
            },
            "checkpoint": {"volume": {"hostPath": {"path": str(checkpoint_dir), "type": "DirectoryOrCreate"}}},
            "runPolicy": {"backoffLimit": 2},
            # Both nodes share this machine's few cores: a thread per rank, as a pod with one
            # CPU would get, instead of every rank starting one per core (3x slower steps).
            "env": [{"name": "OMP_NUM_THREADS", "value": "1"}],
            **spec,
        },
    }
    return job


def job_checkpoints(volume: Path, job: str) -> Path:
    """A job's own directory on the host side of its checkpoint volume: <volume>/<namespace>/<job>."""
    found = sorted(volume.glob(f"*/{job}"))
    assert len(found) == 1, f"expected one checkpoint directory of {job} under {volume}, found {found}"
    return found[0]


def command_job(name: str, command: list[str], nodes: int = 2, **spec: Any) -> Job:
    """A custom-command job: torchrun runs `command` on every node."""
    return {
        "apiVersion": "llmtrain.dev/v1alpha1",
        "kind": "LLMTrainingJob",
        "metadata": {"name": name},
        "spec": {"nodes": nodes, "procsPerNode": 1, "command": command, **spec},
    }


def shell(script: str) -> list[str]:
    """A command for torchrun that runs a shell script on every node (no Python worker)."""
    return ["--no-python", "sh", "-c", script]


def submit(control_plane: ControlPlane, namespace: str, job: Job) -> None:
    """kubectl create the job."""
    control_plane.kubectl("-n", namespace, "create", "-f", "-", input=json.dumps(job))


def patch_spec(control_plane: ControlPlane, namespace: str, name: str, spec: dict[str, Any]) -> None:
    """kubectl patch the job's spec (a JSON merge patch), as a user edits a running job."""
    control_plane.kubectl("-n", namespace, "patch", "ltj", name, "--type=merge", "-p", json.dumps({"spec": spec}))


def get_job(control_plane: ControlPlane, namespace: str, name: str) -> Job:
    """The job as stored."""
    return dict(control_plane.kubectl_json("-n", namespace, "get", "llmtrainingjob", name))


def status(control_plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    """The job's status ({} before the operator wrote one)."""
    return dict(get_job(control_plane, namespace, name).get("status") or {})


def wait_for_status(
    control_plane: ControlPlane,
    namespace: str,
    name: str,
    check: Callable[[dict[str, Any]], bool],
    what: str,
    timeout: float = 180,
    seen: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Poll the job's status until `check` holds; every status read is appended to `seen`."""

    def read() -> dict[str, Any]:
        current = status(control_plane, namespace, name)
        if seen is not None:
            seen.append(current)
        return current

    return eventually(read, timeout, 0.5, until=check, what=f"{what} (the status of {namespace}/{name})")


def phase_is(*phases: str) -> Callable[[dict[str, Any]], bool]:
    """A status check for the phase."""
    return lambda st: st.get("phase") in phases


def running_with_checkpoint(step: int) -> Callable[[dict[str, Any]], bool]:
    """A status check: the job runs and has a checkpoint at `step` or later."""
    return lambda st: st.get("phase") == "Running" and (st.get("checkpoint") or {}).get("step", 0) >= step


def running_at_step(step: int) -> Callable[[dict[str, Any]], bool]:
    """A status check: the job runs and its progress is at `step` or later."""
    return lambda st: st.get("phase") == "Running" and (st.get("progress") or {}).get("step", 0) >= step


def pods(control_plane: ControlPlane, namespace: str, job: str) -> list[dict[str, Any]]:
    """The job's pods, every attempt."""
    listed = control_plane.kubectl_json("-n", namespace, "get", "pods", "-l", pod_selector(job))
    items: list[dict[str, Any]] = listed["items"]  # type: ignore[assignment]
    return items


def pod_processes(job: str, rank: int) -> list[int]:
    """PIDs of the processes the node agent runs for one rank of a job (torchrun and its workers)."""
    return procs.processes_with({"LLMTRAIN_JOB_NAME": job, "PET_NODE_RANK": str(rank)})


def worker_pid(job: str, rank: int) -> int:
    """The training process of global rank `rank`, by the name it gives itself."""
    found = [pid for pid in pod_processes(job, rank) if procs.process_name(pid) == worker_process_name(rank)]
    assert len(found) == 1, f"expected one worker of rank {rank} of {job}, found {found}"
    return found[0]


def kill_rank(job: str, rank: int, sig: signal.Signals = signal.SIGKILL) -> int:
    """Kill the oldest process of a rank (torchrun itself); returns its PID."""
    pids = pod_processes(job, rank)
    assert pids, f"no process runs rank {rank} of {job}"
    os.kill(pids[0], sig)
    return pids[0]
