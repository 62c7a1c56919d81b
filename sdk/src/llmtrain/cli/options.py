"""Options shared by the commands: how to reach the cluster, --debug, and job input."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import IO, Any

import click

from llmtrain.api.job import LLMTrainingJob
from llmtrain.client import TrainingClient

DEBUG = "llmtrain.debug"
SOURCE = "llmtrain.source"

Command = Callable[..., Any]


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[DEBUG] = True


debug_option = click.option(
    "--debug", is_flag=True, expose_value=False, is_eager=True, callback=_set_debug, help="Show tracebacks of errors."
)


def cluster_command(command: Command) -> Command:
    """Give `command` the cluster options and a connected `client` argument."""

    @click.option("-n", "--namespace", help="Namespace (default: the kubeconfig context's, else default).")
    @click.option(
        "--kubeconfig",
        type=click.Path(dir_okay=False),
        envvar=None,
        help="Kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).",
    )
    @click.option("--context", "kube_context", help="Kubeconfig context (default: the current one).")
    @debug_option
    @functools.wraps(command)
    def wrapped(namespace: str | None, kubeconfig: str | None, kube_context: str | None, **kwargs: Any) -> Any:
        with TrainingClient(namespace=namespace, kubeconfig=kubeconfig, context=kube_context) as client:
            return command(client=client, **kwargs)

    return wrapped


def read_job(stream: IO[str]) -> LLMTrainingJob:
    """The job in a file (or stdin), validated; the file's name is kept for error messages."""
    name = "standard input" if stream.name == "<stdin>" else stream.name
    click.get_current_context().meta[SOURCE] = name
    return LLMTrainingJob.from_yaml(stream.read())
