"""How jobs look: the live bar of --wait, the summary line, the list table and describe."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.progress import Progress

from llmtrain import LLMTrainingJob
from llmtrain.cli.jobs import finished_line
from llmtrain.cli.progress import COLUMNS, Display
from llmtrain.cli.render import MFU_NOTE, describe, table
from llmtrain.client.events import JobEvent

START = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _job(name: str, **status: Any) -> LLMTrainingJob:
    wire = LLMTrainingJob.pretrain(name, model="test", data="/d/t.bin", nodes=2, gpus=0, steps=10).to_wire()
    wire["metadata"]["creationTimestamp"] = START.isoformat()
    wire["status"] = status
    return LLMTrainingJob.from_dict(wire)


PROGRESS = {"step": 7, "totalSteps": 10, "loss": 2.5, "tokensPerSecond": 1000.0, "mfu": 0.42, "eta": "3s"}
RUNNING = {"phase": "Running", "attempt": 1, "nodes": {"desired": 2, "active": 2, "ready": 2}, "progress": PROGRESS}


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200, markup=False, highlight=False), out


def test_the_bar_shows_phase_changes_and_the_latest_figures() -> None:
    console, out = _console()
    with Progress(*COLUMNS, console=console) as bar:
        display = Display(bar, bar.add_task("gpt", total=None, phase="", figures=""), "gpt")
        display.update(_job("gpt", phase="Pending", attempt=1))
        display.update(_job("gpt", **RUNNING))
        display.update(_job("gpt", **{**RUNNING, "phase": "Restarting", "attempt": 2, "restarts": 1}))
        task = bar.tasks[0]
        assert (task.completed, task.total) == (7, 10)
    lines = out.getvalue().splitlines()
    assert lines[:3] == ["gpt: Pending", "gpt: Running", "gpt: Restarting (attempt 2, 1 restarts)"]
    assert lines[-1].startswith("gpt Restarting ━")
    assert lines[-1].endswith("step 7/10, loss 2.5, 1,000 tokens/s, ETA 3s")


def test_the_summary_line_gives_the_duration_and_the_last_figures() -> None:
    done = _job(
        "gpt",
        phase="Succeeded",
        startTime=START.isoformat(),
        completionTime=(START + timedelta(seconds=150)).isoformat(),
        progress=PROGRESS,
    )
    assert finished_line(done) == "llmtrainingjob/gpt Succeeded in 2m30s: step 7/10, loss 2.5, 1,000 tokens/s, ETA 3s"
    assert finished_line(_job("new")) == "llmtrainingjob/new Pending"


def test_the_list_table_reads_like_kubectl_get() -> None:
    console, out = _console()
    console.print(table([_job("gpt", **RUNNING), _job("new")], wide=True))
    header, running, new = (line.split() for line in out.getvalue().splitlines())
    assert header == ["NAME", "PHASE", "NODES", "STEP", "LOSS", "AGE", "ATTEMPT", "RESTARTS", "TOKENS/S", "ETA"]
    assert running[:5] + running[6:] == ["gpt", "Running", "2/2", "7/10", "2.5", "1", "0", "1,000", "3s"]
    assert new[:5] == ["new", "Pending", "0/2", "-", "-"]


def test_describe_shows_the_failure_conditions_events_and_what_mfu_means() -> None:
    failed = _job(
        "gpt",
        phase="Failed",
        attempt=1,
        progress=PROGRESS,
        failure={"reason": "OOMKilled", "rank": 1, "pod": "gpt-node-1", "exitCode": 137, "message": "out of memory"},
        conditions=[
            {
                "type": "Failed",
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "message": "gave up",
                "lastTransitionTime": START.isoformat(),
            }
        ],
    )
    events = [JobEvent(START, "Warning", "BackOff", "Pod/gpt-node-1", "[rank 1] crashed", 2)]
    console, out = _console()
    console.print(describe(failed, events))
    text = out.getvalue()
    assert "Failure:     OOMKilled on rank 1 (gpt-node-1), exit code 137: out of memory" in text
    assert "2 nodes x 1 processes = world size 2" in text
    assert f"MFU 42.0% ({MFU_NOTE})" in text
    assert "BackoffLimitExceeded" in text and "gave up" in text
    assert "[rank 1] crashed (x2)" in text


def test_a_restarting_job_says_where_it_resumes_instead_of_stale_figures() -> None:
    restarting = _job(
        "gpt", phase="Restarting", attempt=1, restarts=1, progress={"step": 200, "totalSteps": 10, "resumingFrom": 200}
    )
    console, out = _console()
    console.print(describe(restarting, []))
    assert "Progress:    restarting from the checkpoint of step 200" in out.getvalue()
    assert finished_line(_job("gpt", phase="Pending", progress={"step": 0, "resumingFrom": 0})).endswith(
        "restarting from the start"
    )
