"""Fixtures of the end-to-end tests: what a user has (a kubeconfig whose context is the test's
namespace, the `llmtrain` CLI, the SDK's TrainingClient) on the session's real control plane
with the operator running under the chart's RBAC, and a token corpus the tiny jobs read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.surfaces import Cli
from llmtrain import TrainingClient
from support.job_helpers import write_token_corpus


@pytest.fixture
def cli(running_operator: object, user_kubeconfig: Path) -> Cli:
    """The `llmtrain` console script, pointed at the test's namespace."""
    return Cli(user_kubeconfig)


@pytest.fixture
def client(running_operator: object, user_kubeconfig: Path) -> Iterator[TrainingClient]:
    """The SDK's client, in the test's namespace."""
    with TrainingClient(kubeconfig=user_kubeconfig) as training_client:
        yield training_client


@pytest.fixture
def token_data(tmp_path: Path) -> Path:
    """A directory holding tokens.bin, the uint16 corpus of `tiny_trainer_job`."""
    return write_token_corpus(tmp_path / "data").parent
