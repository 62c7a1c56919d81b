"""API server answers become errors that say what happened and what to do.

The bodies are the Status objects kube-apiserver sends (the integration tests get the
same ones from the real server); a missing CRD cannot be shown there, because the
session's cluster has it installed.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client.exceptions import ApiException

from llmtrain.api.status import Failure
from llmtrain.client.errors import (
    ApiError,
    CRDNotInstalled,
    JobExists,
    JobNotFound,
    JobRejected,
    PermissionDenied,
    describe_failure,
    from_api_exception,
)


def _status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> ApiException:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return ApiException(status=code, reason=reason, body=json.dumps(body))


def test_a_missing_job_is_not_found() -> None:
    error = _status(
        404,
        "NotFound",
        'llmtrainingjobs.llmtrain.dev "gpt" not found',
        {"name": "gpt", "group": "llmtrain.dev", "kind": "llmtrainingjobs"},
    )
    translated = from_api_exception(error, job="gpt", namespace="ml")
    assert isinstance(translated, JobNotFound)
    assert translated.message == 'Job "gpt" not found in namespace "ml".'
    assert "llmtrain list" in translated.hint


def test_a_missing_resource_type_means_the_crd_is_not_installed() -> None:
    error = ApiException(status=404, reason="Not Found", body="404 page not found\n")
    translated = from_api_exception(error, job="gpt", namespace="ml")
    assert isinstance(translated, CRDNotInstalled)
    assert "llmtrainingjobs.llmtrain.dev" in translated.message
    assert "helm install" in translated.hint


def test_forbidden_names_the_user_and_says_whom_to_ask() -> None:
    message = (
        'llmtrainingjobs.llmtrain.dev is forbidden: User "system:serviceaccount:ml:bot" '
        'cannot list resource "llmtrainingjobs"'
    )
    translated = from_api_exception(_status(403, "Forbidden", message), job=None, namespace="ml")
    assert isinstance(translated, PermissionDenied)
    assert 'User "system:serviceaccount:ml:bot" cannot list' in translated.message
    assert "Role" in translated.hint


def test_a_taken_name_is_job_exists() -> None:
    error = _status(409, "AlreadyExists", 'llmtrainingjobs.llmtrain.dev "gpt" already exists', {"name": "gpt"})
    assert isinstance(from_api_exception(error, job=None, namespace="ml"), JobExists)


def test_invalid_names_each_field_with_the_rule_message_alone() -> None:
    sent = {
        "spec": {
            "nodes": 0,
            "trainer": {"precision": "bf17", "parallelism": {"tensorParallel": 3}},
            "env": [{"name": "PET_X"}],
        }
    }
    causes = [
        {
            "reason": "FieldValueInvalid",
            "field": "spec.trainer.parallelism.tensorParallel",
            "message": "Invalid value: 3 does not divide nodes x procsPerNode = 16",
        },
        {
            "reason": "FieldValueInvalid",
            "field": "spec.nodes",
            "message": "Invalid value: 0: spec.nodes in body should be greater than or equal to 1",
        },
        {
            "reason": "FieldValueInvalid",
            "field": "spec.env",
            "message": 'Invalid value: "object": PET_* and LLMTRAIN_* are set by the operator',
        },
        {
            "reason": "FieldValueNotSupported",
            "field": "spec.trainer.precision",
            "message": 'Unsupported value: "bf17": supported values: "bf16", "fp16", "fp32"',
        },
    ]
    error = _status(
        422, "Invalid", 'LLMTrainingJob.llmtrain.dev "gpt" is invalid: [...]', {"name": "gpt", "causes": causes}
    )
    translated = from_api_exception(error, job=None, namespace="ml", sent=sent)
    assert isinstance(translated, JobRejected)
    assert str(translated).splitlines() == [
        "spec.trainer.parallelism.tensorParallel: 3 does not divide nodes x procsPerNode = 16",
        "spec.nodes: spec.nodes in body should be greater than or equal to 1",
        "spec.env: PET_* and LLMTRAIN_* are set by the operator",
        'spec.trainer.precision: Unsupported value: "bf17": supported values: "bf16", "fp16", "fp32"',
    ]


def test_other_answers_keep_the_servers_message() -> None:
    translated = from_api_exception(
        _status(500, "InternalError", "etcdserver: request timed out"), job=None, namespace="ml"
    )
    assert isinstance(translated, ApiError)
    assert "(500): etcdserver: request timed out" in translated.message


def test_a_failure_reads_as_one_line() -> None:
    failure = Failure(reason="OOMKilled", message="out of memory", rank=2, pod="gpt-node-2", exit_code=137)
    assert describe_failure(failure) == "OOMKilled on rank 2 (gpt-node-2), exit code 137: out of memory"
    assert describe_failure(None) == "no reason recorded"
