"""The table of good and bad jobs against the real API server: the generated CRD's
schema and CEL rules refuse exactly what the Python models refuse, naming the same field
and, for cross-field rules, with the same words."""

from __future__ import annotations

import json
import re

import pytest
from crd_install import install_crd
from validation_cases import BAD, GOOD, Case

from testenv.controlplane import ControlPlane


@pytest.fixture(scope="module")
def crd_installed(control_plane: ControlPlane) -> ControlPlane:
    install_crd(control_plane.kubectl)
    return control_plane


def _server_dry_run(control_plane: ControlPlane, namespace: str, case: Case, name: str) -> str:
    """Create the job with a server-side dry run; the error text, or "" when accepted."""
    job = case.job(name)
    job["metadata"]["namespace"] = namespace
    result = control_plane.kubectl(
        "create", "--dry-run=server", "--validate=strict", "-f", "-", input=json.dumps(job), check=False
    )
    return "" if result.returncode == 0 else result.stderr


@pytest.mark.parametrize("case", GOOD, ids=lambda case: case.id)
def test_the_server_accepts_good_jobs(crd_installed: ControlPlane, namespace: str, case: Case) -> None:
    name = case.job()["metadata"]["name"]
    assert _server_dry_run(crd_installed, namespace, case, name) == ""


@pytest.mark.parametrize("case", BAD, ids=lambda case: case.id)
def test_the_server_refuses_bad_jobs_like_the_sdk(crd_installed: ControlPlane, namespace: str, case: Case) -> None:
    name = case.job()["metadata"]["name"]
    error = _server_dry_run(crd_installed, namespace, case, name)
    assert error, "the API server accepted a job the SDK refuses"
    assert case.path is not None
    # The server names nested fields like the SDK: spec.env[0].name, spec.trainer.model.
    field = re.escape(case.path.removeprefix("metadata."))
    assert re.search(rf"(^|[\s:.\"']){field}\b", error), error
    if case.message is not None:
        assert case.message in error, error
