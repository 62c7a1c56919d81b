"""The generated LLMTrainingJob CRD, installed on a test cluster as a user would with kubectl.

Shared by the operator fixture, the API server tests and `make demo`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable

from testenv.netutil import wait_until
from testenv.paths import REPO_ROOT

CRD_FILE = REPO_ROOT / "manifests" / "crd.yaml"
CRD_NAME = "llmtrainingjobs.llmtrain.dev"
Kubectl = Callable[..., subprocess.CompletedProcess[str]]
"""A cluster's `kubectl(*args, check=...)`: ControlPlane.kubectl or the demo's Cluster.kubectl."""


def install_crd(kubectl: Kubectl) -> None:
    """Apply manifests/crd.yaml and wait until the API server serves the kind."""
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_FILE))

    def established() -> bool:
        # `kubectl wait` fails outright while the CRD has no conditions yet, so poll instead.
        result = kubectl(
            "get", "customresourcedefinition", CRD_NAME,
            "-o", "jsonpath={.status.conditions[?(@.type=='Established')].status}", check=False,
        )  # fmt: skip
        return str(result.stdout).strip() == "True"

    wait_until(established, timeout=60, what="the LLMTrainingJob CRD to be established", interval=0.2)
