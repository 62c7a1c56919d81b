"""The table of good and bad jobs against the real API server: the generated CRD's
schema and CEL rules refuse exactly what the Python models refuse, naming the same field
and, for cross-field rules, with the same words; and like the SDK, the server reports
every problem of a job at once, cross-field rules included."""

from __future__ import annotations

import json
import re

import pytest

from llmtrain.api.errors import InvalidJobError
from llmtrain.api.job import LLMTrainingJob
from support.crd_install import install_crd
from support.validation_cases import BAD, GOOD, Case, base_job
from testenv.controlplane import ControlPlane

NOT_CHECKED = "some validation rules were not checked because the object was invalid"
"""What the API server adds when a schema error kept it from running the CEL rules."""


@pytest.fixture(scope="module")
def crd_installed(control_plane: ControlPlane) -> ControlPlane:
    install_crd(control_plane.kubectl)
    return control_plane


def _server_dry_run(control_plane: ControlPlane, namespace: str, job: dict[str, object]) -> str:
    """Create the job with a server-side dry run; the error text, or "" when accepted."""
    job = {**job, "metadata": {**job["metadata"], "namespace": namespace}}  # type: ignore[dict-item]
    result = control_plane.kubectl(
        "create", "--dry-run=server", "--validate=strict", "-f", "-", input=json.dumps(job), check=False
    )
    return "" if result.returncode == 0 else result.stderr


def _names(error: str, path: str) -> bool:
    # The server names nested fields like the SDK: spec.env[0].name, spec.trainer.model.
    field = re.escape(path.removeprefix("metadata."))
    return re.search(rf"(^|[\s:.\"']){field}(?=[\s:]|$)", error, re.MULTILINE) is not None


def _paths(error: str) -> set[str]:
    """The fields a refusal lists: `The X "n" is invalid: \n* spec.a: ...\n* spec.b: ...` (or one, inline)."""
    body = error.split(" is invalid: ", 1)[-1]
    return {match.group(1) for match in re.finditer(r"(?:^|\* )((?:metadata|spec)[\w.\[\]/-]*): ", body, re.MULTILINE)}


@pytest.mark.parametrize("case", GOOD, ids=lambda case: case.id)
def test_the_server_accepts_good_jobs(crd_installed: ControlPlane, namespace: str, case: Case) -> None:
    assert _server_dry_run(crd_installed, namespace, case.job()) == ""


@pytest.mark.parametrize("case", BAD, ids=lambda case: case.id)
def test_the_server_refuses_bad_jobs_like_the_sdk(crd_installed: ControlPlane, namespace: str, case: Case) -> None:
    error = _server_dry_run(crd_installed, namespace, case.job())
    assert error, "the API server accepted a job the SDK refuses"
    for path, message in case.errors:
        assert _names(error, path), (path, error)
        if message is not None:
            assert message in error, error
    for text in case.absent:
        assert text not in error, error
    # A rule judged over a bad or missing value would fail to evaluate ("no such key",
    # "division by zero"): the generated guards keep every rule to valid inputs.
    assert "evaluating rule" not in error, error
    if not case.blocks_rules:
        assert NOT_CHECKED not in error, error


def test_a_missing_field_does_not_hide_a_broken_rule(crd_installed: ControlPlane, namespace: str) -> None:
    # Before the required fields were CEL rules, the server said only "Required value" and
    # that some rules were not checked; now it lists the missing field and the broken rule.
    job = base_job("one-pass")
    del job["spec"]["trainer"]["data"]
    job["spec"]["elastic"] = {"maxNodes": 4}
    job["spec"]["trainer"]["parallelism"] = {"tensorParallel": 3, "strategy": "zero3"}
    job["spec"]["resources"]["memory"] = "-1Gi"
    error = _server_dry_run(crd_installed, namespace, job)
    assert NOT_CHECKED not in error, error
    with pytest.raises(InvalidJobError) as offline:
        LLMTrainingJob.from_dict(job)
    expected = {
        "spec.trainer.data": "Field required",
        "spec.elastic.minNodes": "Field required",
        "spec.trainer.parallelism.tensorParallel": "3 does not divide nodes x procsPerNode = 8",
        "spec.trainer.parallelism.strategy": "Input should be 'ddp', 'fsdp' or 'hsdp'",
        "spec.resources.memory": '"-1Gi" is negative; use a size such as 16Gi',
    }
    assert {str(v) for v in offline.value.violations} == {f"{path}: {message}" for path, message in expected.items()}
    assert _paths(error) == set(expected), error
    for message in expected.values():
        assert message in error, error


@pytest.mark.parametrize("case", [case for case in BAD if case.also], ids=lambda case: case.id)
def test_the_server_and_the_sdk_list_the_same_fields(crd_installed: ControlPlane, namespace: str, case: Case) -> None:
    error = _server_dry_run(crd_installed, namespace, case.job())
    with pytest.raises(InvalidJobError) as offline:
        LLMTrainingJob.from_dict(case.job())
    assert _paths(error) == {violation.path for violation in offline.value.violations}, error


def test_a_type_error_still_blocks_the_rules_on_the_server(crd_installed: ControlPlane, namespace: str) -> None:
    # The limit of the approach, pinned down: a value of the wrong type (and the required
    # fields of Kubernetes' own types) still make the server skip every CEL rule.
    job = base_job("wrong-type")
    job["spec"]["nodes"] = "two"
    job["spec"]["trainer"]["parallelism"] = {"tensorParallel": 3}
    error = _server_dry_run(crd_installed, namespace, job)
    assert NOT_CHECKED in error and "does not divide" not in error, error
    with pytest.raises(InvalidJobError) as offline:
        LLMTrainingJob.from_dict(job)
    # The SDK judges the rules whose fields are valid; tensorParallel's rule reads nodes.
    assert [v.path for v in offline.value.violations] == ["spec.nodes"]
