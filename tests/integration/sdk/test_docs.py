"""docs/sdk.md, the whole page, run against the real control plane with the operator running.

The page's client section is also the end-to-end test of the SDK: it submits the tiny CPU
job, waits for it to succeed, reads both ranks' logs, finds it by label and deletes it
leaving no pods; the assertions below check what the page's code left behind.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from llmtrain import TrainingClient
from llmtrain.api.names import pod_selector
from support.doc_snippets import DOCS, run
from testenv.pytest_plugin import Kubectl


def test_the_sdk_page_runs_the_tiny_job_against_a_cluster(
    user_kubeconfig: Path, tiny_data: str, running_operator: object, kubectl: Kubectl, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The page builds TrainingClient() as a user would: from $KUBECONFIG, whose context
    # names the test's namespace.
    monkeypatch.setenv("KUBECONFIG", str(user_kubeconfig))
    page = run("docs/sdk.md", (DOCS / "sdk.md").read_text())
    client: TrainingClient = page["client"]
    done = page["done"]
    assert done.status.phase == "Succeeded" and done.status.failure is None
    assert {line.rank for line in page["lines"]} == {0, 1}
    assert all(str(line) == f"[rank {line.rank}] {line.text}" for line in page["lines"])
    assert page["phases"][-1] == "Succeeded"
    assert "LLMTrainingJob/tiny" in {event.object for event in page["events"]}
    assert [event.time for event in page["events"]] == sorted(event.time for event in page["events"])
    assert client.list() == []
    assert kubectl("get", "pods", "-l", pod_selector("tiny"), "-o", "name").stdout == ""
