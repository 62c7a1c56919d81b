"""Jobs and pods for the operator's unit tests: stored-looking objects built in code."""

from __future__ import annotations

from typing import Any

from llmtrain.api import names
from llmtrain.api.job import LLMTrainingJob
from llmtrain_operator.podstate import PodView


def stored_job(
    spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None, **metadata: Any
) -> LLMTrainingJob:
    """A job as the API server returns it: with a uid, a namespace and a generation."""
    body: dict[str, Any] = {
        "apiVersion": "llmtrain.dev/v1alpha1",
        "kind": "LLMTrainingJob",
        "metadata": {"name": "gpt", "namespace": "ml", "uid": "uid-1", "generation": 1, **metadata},
        "spec": spec
        or {
            "nodes": 2,
            "resources": {"gpus": 8, "cpu": "32", "memory": "400Gi"},
            "trainer": {"model": {"preset": "test"}, "data": {"paths": ["/data/tokens.bin"]}},
        },
    }
    if status is not None:
        body["status"] = status
    return LLMTrainingJob.model_validate(body)


def pod_body(
    rank: int,
    attempt: int = 1,
    phase: str = "Running",
    *,
    running: bool | None = None,
    exit_code: int | None = None,
    reason: str | None = None,
    message: str = "",
    pod_reason: str | None = None,
    waiting: str | None = None,
    unschedulable: str | None = None,
    deleting: bool = False,
    job: str = "gpt",
) -> dict[str, Any]:
    """A pod object the way a kubelet and the scheduler leave it."""
    state: dict[str, Any] = {}
    if running if running is not None else phase == "Running":
        state["running"] = {"startedAt": "2026-11-22T10:00:00Z"}
    if exit_code is not None:
        state["terminated"] = {
            "exitCode": exit_code,
            "reason": reason or ("Completed" if exit_code == 0 else "Error"),
            "message": message,
            "finishedAt": f"2026-11-22T10:0{rank}:00Z",
        }
    if waiting is not None:
        state["waiting"] = {"reason": waiting, "message": message}
    scheduled = {"type": "PodScheduled", "status": "True"}
    if unschedulable is not None:
        scheduled = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": unschedulable}
    status: dict[str, Any] = {
        "phase": phase,
        "podIP": f"127.0.1.{rank + 1}",
        "conditions": [scheduled],
        "containerStatuses": [{"name": names.TRAINER_CONTAINER, "state": state}],
    }
    if pod_reason is not None:
        status["reason"] = pod_reason
    metadata: dict[str, Any] = {"name": names.pod_name(job, rank), "labels": names.pod_labels(job, rank, attempt)}
    if deleting:
        metadata["deletionTimestamp"] = "2026-11-22T10:05:00Z"
    return {"metadata": metadata, "status": status}


def pods(*bodies: dict[str, Any]) -> list[PodView]:
    """PodViews of the bodies."""
    return [PodView.from_body(body) for body in bodies]
