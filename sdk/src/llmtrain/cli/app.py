"""The `llmtrain` command: its group, the error handling that turns failures into one
sentence and an exit code, and the registration of every command."""

from __future__ import annotations

import sys
import traceback
from typing import Any

import click

from llmtrain import __version__
from llmtrain.cli import jobs, logs, offline
from llmtrain.cli.exitcodes import HANDLED, HELP, Exit, describe, exit_code
from llmtrain.cli.options import DEBUG, SOURCE, debug_option


class _Cli(click.Group):
    """A group that reports known errors for humans (tracebacks only with --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HANDLED as error:
            if ctx.meta.get(DEBUG):
                traceback.print_exc()
            click.echo(f"error: {describe(error, ctx.meta.get(SOURCE))}", err=True)
            ctx.exit(exit_code(error))
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(Exit.INTERRUPTED)


@click.group(cls=_Cli, epilog=HELP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="llmtrain")
@debug_option
def cli() -> None:
    """Train large language models on Kubernetes: submit, watch, and manage LLMTrainingJobs.

    The cluster comes from --kubeconfig, else $KUBECONFIG, else ~/.kube/config (or the
    pod's service account inside the cluster), as with kubectl.

    \b
    Examples:
      llmtrain generate pretrain tiny --model test --gpus 0 --data /data/tokens.bin > job.yaml
      llmtrain validate job.yaml
      llmtrain submit job.yaml --wait
      llmtrain list
      llmtrain logs tiny -f
    """


for command in (
    jobs.submit,
    jobs.get,
    jobs.list_,
    jobs.describe_,
    jobs.wait_,
    jobs.delete,
    jobs.suspend,
    jobs.resume,
    logs.logs,
    offline.validate,
    offline.generate,
):
    cli.add_command(command)


def main() -> None:
    """The console script."""
    sys.exit(cli.main(prog_name="llmtrain"))
