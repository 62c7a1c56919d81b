"""How jobs look on the terminal: kubectl-style tables, `describe`, and YAML/JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, Literal

import yaml
from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from llmtrain.api.job import LLMTrainingJob
from llmtrain.api.status import Progress
from llmtrain.cli.durations import age
from llmtrain.client.errors import describe_failure
from llmtrain.client.events import JobEvent

Format = Literal["table", "wide", "yaml", "json", "name"]

MFU_NOTE = "MFU = achieved FLOP/s / the device's dense bf16 peak (H100/H200 SXM: 989e12)"


PIPE_WIDTH = 1000
"""Width of output that goes to a pipe or file: wide enough that no name is cut short."""


def stdout() -> Console:
    """The console for results; markup is off because job text may contain [brackets]."""
    return Console(markup=False, highlight=False, width=None if sys.stdout.isatty() else PIPE_WIDTH)


def stderr() -> Console:
    """The console for progress and messages."""
    return Console(stderr=True, markup=False, highlight=False)


def wire(job: LLMTrainingJob) -> dict[str, Any]:
    """The job as the API server has it, without the server's bookkeeping of field owners."""
    data = job.to_wire()
    data["metadata"].pop("managedFields", None)
    return data


def dump(data: Any, fmt: Literal["yaml", "json"]) -> str:
    """YAML or JSON text of `data`."""
    if fmt == "json":
        return json.dumps(data, indent=2)
    return yaml.safe_dump(data, sort_keys=False)


def jobs_output(jobs: Sequence[LLMTrainingJob], fmt: Format, *, namespaces: bool = False) -> RenderableType | str:
    """The list of jobs in `fmt`: a table, names, or a kubectl List document."""
    if fmt in ("yaml", "json"):
        return dump(
            {"apiVersion": "v1", "kind": "List", "items": [wire(job) for job in jobs]},
            "json" if fmt == "json" else "yaml",
        )
    if fmt == "name":
        return "\n".join(f"llmtrainingjob/{job.metadata.name}" for job in jobs)
    return table(jobs, wide=fmt == "wide", namespaces=namespaces)


def table(jobs: Sequence[LLMTrainingJob], *, wide: bool = False, namespaces: bool = False) -> Table:
    """NAME PHASE NODES STEP LOSS AGE, like `kubectl get`; wide adds attempt, restarts, tokens/s and ETA."""
    grid = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    columns = (["NAMESPACE"] if namespaces else []) + ["NAME", "PHASE", "NODES", "STEP", "LOSS", "AGE"]
    if wide:
        columns += ["ATTEMPT", "RESTARTS", "TOKENS/S", "ETA"]
    for column in columns:
        grid.add_column(column, no_wrap=True)
    for job in jobs:
        status = job.status
        progress = status.progress if status else None
        nodes = status.nodes if status else None
        row = [job.metadata.namespace or ""] if namespaces else []
        row += [
            job.metadata.name,
            (status.phase if status else None) or "Pending",
            f"{nodes.ready}/{job.spec.nodes}" if nodes else f"0/{job.spec.nodes}",
            step(progress),
            f"{progress.loss:.4g}" if progress and progress.loss is not None else "-",
            age(job.metadata.creation_timestamp),
        ]
        if wide:
            row += [
                str(status.attempt if status else 0),
                str(status.restarts if status else 0),
                f"{progress.tokens_per_second:,.0f}" if progress and progress.tokens_per_second is not None else "-",
                (progress.eta if progress else None) or "-",
            ]
        grid.add_row(*row)
    return grid


def step(progress: Progress | None) -> str:
    """step/totalSteps, or - before the first step."""
    if progress is None:
        return "-"
    return f"{progress.step}/{progress.total_steps}" if progress.total_steps else str(progress.step)


def workload(job: LLMTrainingJob) -> str:
    """What the pods run, in one line."""
    spec = job.spec
    if spec.trainer is None:
        return "torchrun " + " ".join(spec.command or [])
    trainer = spec.trainer
    model = f"preset {trainer.model.preset}" if trainer.model.preset else trainer.model.path
    return (
        f"built-in trainer: {trainer.objective} of {model} on {trainer.data.format} data "
        f"{', '.join(trainer.data.paths)}; {trainer.schedule.steps} steps, "
        f"{trainer.parallelism.strategy}, {trainer.precision}"
    )


def describe(job: LLMTrainingJob, events: Sequence[JobEvent]) -> RenderableType:
    """Everything about one job: spec summary, status, progress, failure, conditions, events."""
    spec, status = job.spec, job.status
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold", no_wrap=True)
    fields.add_column()

    def add(label: str, value: str) -> None:
        fields.add_row(label, Text(value))

    add("Name:", job.metadata.name)
    add("Namespace:", job.metadata.namespace or "")
    add("Created:", f"{job.metadata.creation_timestamp} ({age(job.metadata.creation_timestamp)} ago)")
    if job.metadata.labels:
        add("Labels:", ", ".join(f"{k}={v}" for k, v in job.metadata.labels.items()))
    add("Image:", spec.image or "(the operator's default trainer image)")
    resources = spec.resources
    per_pod = [f"{resources.gpus} GPUs"]
    if resources.cpu:
        per_pod.append(f"cpu {resources.cpu}")
    if resources.memory:
        per_pod.append(f"memory {resources.memory}")
    add(
        "Gang:",
        f"{spec.nodes} nodes x {spec.effective_procs_per_node} processes = world size {spec.world_size}; "
        f"per pod: {', '.join(per_pod)}",
    )
    add("Runs:", workload(job))
    policy = spec.run_policy
    add(
        "Run policy:",
        f"restart {policy.restart_policy}, backoffLimit {policy.backoff_limit}, "
        f"cleanPodPolicy {policy.clean_pod_policy}" + (", suspended" if policy.suspend else ""),
    )
    if status is not None:
        add("Phase:", f"{status.phase or 'Pending'} (attempt {status.attempt}, {status.restarts} gang restarts)")
        if status.nodes:
            n = status.nodes
            add(
                "Pods:",
                f"{n.desired} desired, {n.active} active, {n.ready} ready, {n.succeeded} succeeded, {n.failed} failed",
            )
        if status.start_time:
            add("Started:", str(status.start_time))
        if status.completion_time:
            add("Completed:", str(status.completion_time))
        if status.progress:
            add("Progress:", progress_line(status.progress, mfu=True))
        if status.checkpoint:
            add(
                "Checkpoint:",
                f"step {status.checkpoint.step}" + (f" at {status.checkpoint.path}" if status.checkpoint.path else ""),
            )
        if status.failure:
            add("Failure:", describe_failure(status.failure))
    parts: list[RenderableType] = [fields]
    conditions = (status.conditions if status else None) or []
    parts.append(Text("\nConditions:", style="bold"))
    if conditions:
        grid = _grid("TYPE", "STATUS", "REASON", "AGE", "MESSAGE")
        for condition in conditions:
            grid.add_row(
                condition.type,
                condition.status,
                condition.reason,
                age(condition.last_transition_time),
                condition.message,
            )
        parts.append(grid)
    else:
        parts.append(Text("  <none>"))
    parts.append(Text("\nEvents:", style="bold"))
    if events:
        grid = _grid("AGE", "TYPE", "REASON", "OBJECT", "MESSAGE")
        for event in events:
            grid.add_row(
                age(event.time),
                event.type,
                event.reason,
                event.object,
                event.message + (f" (x{event.count})" if event.count > 1 else ""),
            )
        parts.append(grid)
    else:
        parts.append(Text("  <none>"))
    return Group(*parts)


def progress_line(progress: Progress, *, mfu: bool = False) -> str:
    """step, loss, tokens/s, ETA (and MFU with its definition) in one line."""
    if progress.resuming_from is not None:
        where = f"the checkpoint of step {progress.resuming_from}" if progress.resuming_from else "the start"
        return f"restarting from {where}"
    parts = [f"step {step(progress)}"]
    if progress.loss is not None:
        parts.append(f"loss {progress.loss:.4g}")
    if progress.tokens_per_second is not None:
        parts.append(f"{progress.tokens_per_second:,.0f} tokens/s")
    if mfu and progress.mfu is not None:
        parts.append(f"MFU {progress.mfu:.1%} ({MFU_NOTE})")
    if progress.eta:
        parts.append(f"ETA {progress.eta}")
    return ", ".join(parts)


def _grid(*headers: str) -> Table:
    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for header in headers:
        grid.add_column(header, overflow="fold")
    return grid
