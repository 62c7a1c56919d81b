"""Commands on jobs in the cluster: submit, get, list, describe, wait, delete, suspend, resume."""

from __future__ import annotations

from typing import IO

import click

from llmtrain.api.job import LLMTrainingJob
from llmtrain.api.status import FINISHED_PHASES, PHASES, format_duration
from llmtrain.cli.durations import Duration
from llmtrain.cli.options import cluster_command, read_job
from llmtrain.cli.progress import wait_with_progress
from llmtrain.cli.render import Format, describe, dump, jobs_output, progress_line, stderr, stdout, wire
from llmtrain.client import TrainingClient

output_option = click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "wide", "yaml", "json", "name"]),
    default="table",
    show_default=True,
    help="table (like kubectl get), wide (adds attempt, restarts, tokens/s, ETA), yaml, json or name.",
)
timeout_option = click.option(
    "--timeout", type=Duration(), help="Give up waiting after this long, e.g. 30m (exit code 5)."
)


def finished_line(job: LLMTrainingJob) -> str:
    """The line `--wait` ends with: phase, how long the job ran, and its last figures."""
    status = job.status
    phase = (status.phase if status else None) or "Pending"
    line = f"llmtrainingjob/{job.metadata.name} {phase}"
    if status and status.start_time and status.completion_time:
        line += f" in {format_duration((status.completion_time - status.start_time).total_seconds())}"
    if status and status.progress:
        line += f": {progress_line(status.progress)}"
    return line


def _wait(client: TrainingClient, name: str, until: tuple[str, ...], timeout: float | None) -> None:
    job = wait_with_progress(client, name, stderr(), until=until, timeout=timeout)
    click.echo(finished_line(job))


@click.command()
@click.argument("file", type=click.File("r"))
@click.option("--wait", is_flag=True, help="Then show live progress until the job finishes; exit 1 if it fails.")
@timeout_option
@click.option(
    "-o",
    "--output",
    type=click.Choice(["name", "yaml", "json"]),
    default="name",
    show_default=True,
    help="What to print about the created job.",
)
@cluster_command
def submit(client: TrainingClient, file: IO[str], wait: bool, timeout: float | None, output: str) -> None:
    """Create the job in FILE (YAML or JSON; - reads standard input).

    The job is validated first, with the same messages as the API server. A namespace
    in the file wins over -n and the kubeconfig's.

    \b
    Examples:
      llmtrain submit job.yaml
      llmtrain generate pretrain gpt --data /data/tokens --nodes 2 | llmtrain submit - --wait
    """
    job = client.create(read_job(file))
    # A namespace written in the file wins over the client's, for create and for the wait.
    client = client.in_namespace(job.metadata.namespace or client.namespace)
    if output == "name":
        click.echo(f"llmtrainingjob/{job.metadata.name} created")
    else:
        click.echo(dump(wire(job), "json" if output == "json" else "yaml"), nl=False)
    if wait:
        _wait(client, job.metadata.name, tuple(FINISHED_PHASES), timeout)


@click.command()
@click.argument("name")
@output_option
@cluster_command
def get(client: TrainingClient, name: str, output: Format) -> None:
    """Show one job: a table row, or the whole resource with -o yaml|json.

    \b
    Examples:
      llmtrain get gpt-small
      llmtrain get gpt-small -o yaml
    """
    job = client.get(name)
    if output in ("yaml", "json"):
        click.echo(dump(wire(job), "json" if output == "json" else "yaml"), nl=False)
    else:
        stdout().print(jobs_output([job], output))


@click.command(name="list")
@click.option("-l", "--selector", help="Label selector, e.g. team=nlp,stage!=dev.")
@click.option("-A", "--all-namespaces", is_flag=True, help="Jobs of every namespace.")
@output_option
@cluster_command
def list_(client: TrainingClient, selector: str | None, all_namespaces: bool, output: Format) -> None:
    """List jobs: NAME PHASE NODES STEP LOSS AGE.

    NODES counts ready pods of the current attempt; STEP and LOSS come from rank 0's metrics.

    \b
    Examples:
      llmtrain list
      llmtrain list -l team=nlp -o wide
      llmtrain list -A -o name
    """
    jobs = client.list(selector, all_namespaces=all_namespaces)
    if not jobs and output in ("table", "wide"):
        stderr().print("No jobs found" + ("." if all_namespaces else f' in namespace "{client.namespace}".'))
        return
    rendered = jobs_output(jobs, output, namespaces=all_namespaces)
    if isinstance(rendered, str):
        click.echo(rendered)
    else:
        stdout().print(rendered)


@click.command(name="describe")
@click.argument("name")
@cluster_command
def describe_(client: TrainingClient, name: str) -> None:
    """Show a job in detail: spec summary, phase, progress, failure, conditions and events.

    \b
    Example:
      llmtrain describe gpt-small
    """
    job = client.get(name)
    stdout().print(describe(job, client.events(name)))


@click.command(name="wait")
@click.argument("name")
@click.option(
    "--for",
    "phases",
    type=click.Choice(PHASES),
    multiple=True,
    help="Phase to wait for (repeatable; default: Succeeded or Failed).",
)
@timeout_option
@cluster_command
def wait_(client: TrainingClient, name: str, phases: tuple[str, ...], timeout: float | None) -> None:
    """Wait for a job with a live progress bar; exit 1 if it fails, 5 on --timeout.

    Watches the job (no polling) and prints the failing rank, exit code and reason if it fails.

    \b
    Examples:
      llmtrain wait gpt-small
      llmtrain wait gpt-small --for Running --timeout 10m
    """
    _wait(client, name, phases or tuple(FINISHED_PHASES), timeout)


@click.command()
@click.argument("names", nargs=-1, required=True)
@click.option("--wait", is_flag=True, help="Return only when the job and all its pods are gone.")
@timeout_option
@cluster_command
def delete(client: TrainingClient, names: tuple[str, ...], wait: bool, timeout: float | None) -> None:
    """Delete jobs, and with them their pods, Service and ConfigMap.

    \b
    Examples:
      llmtrain delete gpt-small
      llmtrain delete gpt-small gpt-large --wait
    """
    for name in names:
        client.delete(name, wait=wait, timeout=timeout)
        click.echo(f"llmtrainingjob/{name} deleted")


@click.command()
@click.argument("name")
@cluster_command
def suspend(client: TrainingClient, name: str) -> None:
    """Stop a job's pods and keep the job; `resume` continues from the last checkpoint.

    \b
    Example:
      llmtrain suspend gpt-small
    """
    client.suspend(name)
    click.echo(f"llmtrainingjob/{name} suspended")


@click.command()
@click.argument("name")
@cluster_command
def resume(client: TrainingClient, name: str) -> None:
    """Start a suspended job again; the new attempt resumes from its latest checkpoint.

    \b
    Example:
      llmtrain resume gpt-small
    """
    client.resume(name)
    click.echo(f"llmtrainingjob/{name} resumed")
