"""The live progress bar of `submit --wait` and `wait`: phase, step/totalSteps, loss, tokens/s, ETA."""

from __future__ import annotations

from collections.abc import Collection

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from llmtrain.api.job import LLMTrainingJob
from llmtrain.cli.render import progress_line
from llmtrain.client import TrainingClient


class Display:
    """Moves the bar with each status the watch brings and notes every phase change above it."""

    def __init__(self, bar: Progress, task: TaskID, name: str) -> None:
        self.bar = bar
        self.task = task
        self.name = name
        self.phase: str | None = None
        self.attempt = 0

    def update(self, job: LLMTrainingJob) -> None:
        status = job.status
        if status is None:
            return
        phase = status.phase or "Pending"
        if phase != self.phase or status.attempt != self.attempt:
            attempt = f" (attempt {status.attempt}, {status.restarts} restarts)" if status.attempt > 1 else ""
            self.bar.console.print(f"{self.name}: {phase}{attempt}")
            self.phase, self.attempt = phase, status.attempt
        progress = status.progress
        self.bar.update(
            self.task,
            phase=phase,
            completed=progress.step if progress else 0,
            total=progress.total_steps if progress and progress.total_steps else None,
            figures=progress_line(progress) if progress else "waiting for the first step",
        )


COLUMNS = (
    TextColumn("{task.description}"),
    TextColumn("{task.fields[phase]}", style="bold"),
    BarColumn(),
    TextColumn("{task.fields[figures]}"),
)


def wait_with_progress(
    client: TrainingClient, name: str, console: Console, *, until: Collection[str], timeout: float | None
) -> LLMTrainingJob:
    """`client.wait` with a live bar on `console`; raises what wait raises."""
    with Progress(*COLUMNS, console=console, transient=False) as bar:
        task = bar.add_task(name, total=None, phase="Pending", figures="")
        return client.wait(name, until=until, timeout=timeout, callback=Display(bar, task, name).update)
