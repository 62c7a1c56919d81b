"""`llmtrain logs`: the ranks' output, each line prefixed with its rank, across gang restarts."""

from __future__ import annotations

import click

from llmtrain.cli.options import cluster_command
from llmtrain.client import TrainingClient


@click.command()
@click.argument("name")
@click.option("--rank", type=click.IntRange(min=0), help="Only this node rank (default: every rank).")
@click.option("-f", "--follow", is_flag=True, help="Stream new lines, through gang restarts, until the job finishes.")
@cluster_command
def logs(client: TrainingClient, name: str, rank: int | None, follow: bool) -> None:
    """Print the logs of a job's pods, each line prefixed with [rank N].

    With -f, lines appear as they are written; when a gang restart replaces the pods,
    the new attempt's lines follow (a note on standard error marks each new attempt).

    \b
    Examples:
      llmtrain logs gpt-small
      llmtrain logs gpt-small --rank 0 -f
    """
    attempt: int | None = None
    for line in client.logs(name, rank=rank, follow=follow):
        if follow and (attempt is None or line.attempt > attempt):
            if attempt is not None:
                click.echo(f"--- attempt {line.attempt} ---", err=True)
            attempt = line.attempt
        click.echo(str(line))
