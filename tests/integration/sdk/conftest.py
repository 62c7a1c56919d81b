"""Fixtures of the SDK and CLI tests: a client of the test's namespace on the real control
plane with the operator running, a kubeconfig whose context is that namespace (what a user
has), and a claim holding the tiny token corpus the CPU pretraining jobs read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from llmtrain import TrainingClient
from testenv.controlplane import ControlPlane
from testenv.pytest_plugin import Kubectl
from testenv.testing import eventually

DATA_CLAIM = "tiny-data"
TOKENS = 100_000
VOCAB = 512
"""Vocabulary of the `test` model preset: every token id must be below it."""


@pytest.fixture
def client(running_operator: object, control_plane: ControlPlane, namespace: str) -> Iterator[TrainingClient]:
    with TrainingClient(kubeconfig=control_plane.kubeconfig_path, namespace=namespace) as training_client:
        yield training_client


@pytest.fixture
def tiny_data(kubectl: Kubectl) -> str:
    """A bound claim with /tokens.bin: uint16 token ids of the test preset's vocabulary."""
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": DATA_CLAIM},
        "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    kubectl("apply", "-f", "-", input=json.dumps(claim))

    def volume() -> str | None:
        bound = json.loads(kubectl("get", "pvc", DATA_CLAIM, "-o", "json").stdout)
        return bound["spec"].get("volumeName") if bound.get("status", {}).get("phase") == "Bound" else None

    pv = json.loads(kubectl("get", "pv", eventually(volume, timeout=60), "-o", "json").stdout)
    source = pv["spec"].get("hostPath") or pv["spec"]["local"]
    rng = np.random.default_rng(0)
    rng.integers(0, VOCAB, size=TOKENS, dtype=np.uint16).tofile(Path(source["path"]) / "tokens.bin")
    return DATA_CLAIM
