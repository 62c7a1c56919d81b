"""Errors of the client, each one sentence for humans plus what to do about it.

The Kubernetes client raises `ApiException` with a status code and a JSON `Status` body,
and urllib3 errors when nothing answers; `translate` turns them into these classes so
that callers (and the CLI's exit codes) can tell "no such job" from "no CRD installed"
from "no permission".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from llmtrain.api.errors import InvalidJobError, Violation
from llmtrain.api.job import GROUP, PLURAL
from llmtrain.api.status import Failure

CRD_NAME = f"{PLURAL}.{GROUP}"


class ClientError(Exception):
    """Something the user can fix: `message` says what went wrong, `hint` what to do."""

    def __init__(self, message: str, hint: str = "") -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} {hint}".strip())


class ConfigError(ClientError):
    """No usable kubeconfig or in-cluster configuration."""


class ClusterUnreachable(ClientError):
    """Nothing answered at the API server's address."""


class CRDNotInstalled(ClientError):
    """The cluster does not know the LLMTrainingJob resource."""


class PermissionDenied(ClientError):
    """The API server refused the request for this user (401 or 403)."""


class JobNotFound(ClientError):
    """No job of that name in the namespace."""


class JobExists(ClientError):
    """A job of that name already exists in the namespace."""


class ApiError(ClientError):
    """Any other refusal of the API server, with its own message."""


class WaitTimeout(ClientError):
    """The job did not reach the awaited phase in time."""


class JobFailed(ClientError):
    """The job ended in phase Failed; `failure` is its status.failure (rank, pod, exit code, reason)."""

    def __init__(self, name: str, failure: Failure | None) -> None:
        self.name = name
        self.failure = failure
        super().__init__(
            f"Job {name} failed: {describe_failure(failure)}.",
            f"See `llmtrain describe {name}` and `llmtrain logs {name}`.",
        )


class JobRejected(InvalidJobError):
    """The API server refused the job as invalid; `violations` name each field, as `llmtrain validate` does."""


def describe_failure(failure: Failure | None) -> str:
    """One line: which rank failed, with what exit code, and why."""
    return failure.one_line() if failure is not None else "no reason recorded"


def _status(error: ApiException) -> dict[str, Any]:
    try:
        body = json.loads(error.body or "")
    except ValueError:
        return {}
    return body if isinstance(body, dict) and body.get("kind") == "Status" else {}


def _value_at(sent: Any, path: str) -> Any:
    for key, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        try:
            sent = sent[int(index)] if index else sent[key]
        except (KeyError, IndexError, TypeError):
            return None
    return sent


def _go_value(value: Any) -> str:
    # How the API server prints the bad value in "Invalid value: <value>: <detail>".
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return json.dumps(value)
    return str(value) if isinstance(value, (int, float)) else '"object"'


def _cause_message(message: str, value: Any) -> str:
    # The API server puts "Invalid value: " and the value checked (omitted by CEL rules
    # with a fieldPath, "object" for rules on objects) before the rule's own message;
    # without them the message is the one the SDK's validation gives.
    for prefix in (f"Invalid value: {_go_value(value)}: ", 'Invalid value: "object": ', "Invalid value: "):
        if message.startswith(prefix):
            return message.removeprefix(prefix)
    return message


def rejected(status: dict[str, Any], sent: dict[str, Any] | None = None) -> JobRejected:
    """The violations of a 422 Invalid Status for the object `sent`, worded as the SDK words them."""
    causes = (status.get("details") or {}).get("causes") or []
    violations = [
        Violation(
            cause.get("field", ""), _cause_message(cause.get("message", ""), _value_at(sent, cause.get("field", "")))
        )
        for cause in causes
    ]
    return JobRejected(violations or [Violation("", status.get("message", "the API server refused the job"))])


def from_api_exception(
    error: ApiException, *, job: str | None, namespace: str, sent: dict[str, Any] | None = None
) -> Exception:
    """The client error for an API server answer, given the job the request was about."""
    status = _status(error)
    message = status.get("message") or str(error.reason or "").strip()
    if error.status == 404:
        # A missing object comes back as a Status naming it; a missing resource type is a
        # plain "404 page not found" from the API server's router.
        if job is not None and (status.get("details") or {}).get("name") == job:
            return JobNotFound(
                f'Job "{job}" not found in namespace "{namespace}".',
                "Check the name with `llmtrain list`, or pass -n NAMESPACE.",
            )
        return CRDNotInstalled(
            f"The cluster has no {CRD_NAME} resource: the llmtrain CRD is not installed.",
            "Install the operator: `helm install llmtrain-operator charts/llmtrain-operator` "
            "(or `kubectl apply -f manifests/crd.yaml`).",
        )
    if error.status in (401, 403):
        return PermissionDenied(
            f"Permission denied: {message}." if message else "Permission denied by the API server.",
            "Use a kubeconfig context with access to llmtrainingjobs in this namespace, "
            "or ask your cluster administrator for a Role granting it.",
        )
    if error.status == 409 and status.get("reason") == "AlreadyExists":
        return JobExists(f"{message}.", "Pick another name, or delete the old job first with `llmtrain delete`.")
    if error.status == 422 and status.get("reason") == "Invalid":
        return rejected(status, sent)
    return ApiError(f"The API server refused the request ({error.status}): {message}.")


def unreachable(server: str, error: Exception) -> ClusterUnreachable:
    """The error for a request that no API server answered."""
    return ClusterUnreachable(
        f"Cannot reach the Kubernetes API server at {server} ({type(error).__name__}).",
        "Check that the cluster is running and that your kubeconfig context points at it "
        "(`kubectl cluster-info`), or pass --kubeconfig/--context.",
    )


@contextmanager
def translated(
    server: str, namespace: str, job: str | None = None, sent: dict[str, Any] | None = None
) -> Iterator[None]:
    """Run API calls about `job` (sending `sent`), turning Kubernetes client and connection errors into
    client errors."""
    try:
        yield
    except ApiException as error:
        raise from_api_exception(error, job=job, namespace=namespace, sent=sent) from error
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise unreachable(server, error) from error


def config_error(error: ConfigException | OSError) -> ConfigError:
    """The error for a kubeconfig that cannot be used."""
    return ConfigError(
        f"No usable Kubernetes configuration: {error}.",
        "Set KUBECONFIG or pass --kubeconfig FILE (and --context NAME), or run inside a pod of the cluster.",
    )
