"""docs/sdk.md, the whole page, run against the real control plane with the operator running."""

from __future__ import annotations

from pathlib import Path

import pytest
from doc_snippets import DOCS, run

from llmtrain import TrainingClient


def test_the_sdk_page_runs_against_a_cluster(
    user_kubeconfig: Path, tiny_data: str, running_operator: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The page builds TrainingClient() as a user would: from $KUBECONFIG, whose context
    # names the test's namespace.
    monkeypatch.setenv("KUBECONFIG", str(user_kubeconfig))
    namespace = run("docs/sdk.md", (DOCS / "sdk.md").read_text())
    client: TrainingClient = namespace["client"]
    assert namespace["done"].status.phase == "Succeeded"
    assert client.list() == []
