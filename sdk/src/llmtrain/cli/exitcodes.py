"""Exit codes of `llmtrain`, and the one-paragraph message each failure prints instead of a traceback."""

from __future__ import annotations

from enum import IntEnum

import yaml

from llmtrain.api.errors import InvalidJobError
from llmtrain.client.errors import (
    ClientError,
    JobExists,
    JobFailed,
    JobNotFound,
    JobRejected,
    WaitTimeout,
)


class Exit(IntEnum):
    """What a script can rely on."""

    OK = 0
    JOB_FAILED = 1
    INVALID = 2
    NOT_FOUND = 3
    CLUSTER = 4
    TIMEOUT = 5
    INTERRUPTED = 130


HELP = """\b
Exit codes:
  0  success (for --wait and wait: the job reached the phase waited for)
  1  the job failed
  2  usage error, or an invalid job (a bad file, refused by the API server, name taken)
  3  job not found
  4  cluster problem: no kubeconfig, API server unreachable, CRD not installed, no permission
  5  timed out waiting
  130 interrupted (Ctrl-C)"""


def exit_code(error: Exception) -> Exit:
    """The exit code for an error `describe` knows."""
    if isinstance(error, JobFailed):
        return Exit.JOB_FAILED
    if isinstance(error, (InvalidJobError, JobExists, yaml.YAMLError)):
        return Exit.INVALID
    if isinstance(error, JobNotFound):
        return Exit.NOT_FOUND
    if isinstance(error, WaitTimeout):
        return Exit.TIMEOUT
    return Exit.CLUSTER


def describe(error: Exception, source: str | None = None) -> str:
    """What went wrong and what to do, for people; `source` names the file a job came from."""
    if isinstance(error, JobRejected):
        return "The API server refused the job:\n" + _violations(error) + "\nFix these fields and submit again."
    if isinstance(error, InvalidJobError):
        where = f"{source} is" if source else "The job is"
        return (
            f"{where} not a valid LLMTrainingJob:\n"
            + _violations(error)
            + "\nFix these fields; `llmtrain generate --help` shows how to write a valid job."
        )
    if isinstance(error, yaml.YAMLError):
        where = source or "The input"
        return f"{where} is not one YAML document: {error}\nGive one LLMTrainingJob as YAML (or JSON)."
    if isinstance(error, ClientError):
        return f"{error.message}\n{error.hint}".strip()
    return str(error)


def _violations(error: InvalidJobError) -> str:
    return "\n".join(f"  {violation}" for violation in error.violations)


HANDLED: tuple[type[Exception], ...] = (ClientError, InvalidJobError, yaml.YAMLError)
"""The errors that get a message and an exit code; anything else is a bug and shows its traceback."""
