"""TrainingClient against the real control plane, with the operator and node agent running the pods."""

from __future__ import annotations

import pytest
from integration.sdk.jobs import python_job, tiny_pretrain
from testenv.pytest_plugin import Kubectl

from llmtrain import JobFailed, TrainingClient
from llmtrain.client.logs import JOB_LABEL


def test_the_tiny_cpu_job_trains_to_success_and_both_ranks_log(client: TrainingClient, tiny_data: str, kubectl: Kubectl) -> None:
    created = client.create(tiny_pretrain("tiny", team="nlp"))
    assert created.metadata.namespace == client.namespace and created.metadata.uid

    done = client.wait("tiny", timeout=300)
    assert done.status is not None and done.status.phase == "Succeeded"
    assert done.status.failure is None

    lines = list(client.logs("tiny"))
    assert {line.rank for line in lines} == {0, 1}
    assert all(str(line).startswith(f"[rank {line.rank}] ") for line in lines)
    assert [line.text for line in client.logs("tiny", rank=1)] == [line.text for line in lines if line.rank == 1]

    assert [job.metadata.name for job in client.list({"team": "nlp"})] == ["tiny"]
    assert client.list("team=vision") == []
    assert any(event.reason for event in client.events("tiny"))

    client.delete("tiny", wait=True, timeout=120)
    assert kubectl("get", "pods", "-l", f"{JOB_LABEL}=tiny", "-o", "name").stdout == ""
    assert client.list() == []


def test_a_failing_rank_makes_wait_raise_with_its_rank_and_exit_code(client: TrainingClient, kubectl: Kubectl) -> None:
    code = "import os, sys; print('rank', os.environ['GROUP_RANK'], flush=True); sys.exit(3 if os.environ['GROUP_RANK'] == '1' else 0)"
    client.create(python_job("crash", code))
    with pytest.raises(JobFailed) as raised:
        client.wait("crash", timeout=180)
    failure = raised.value.failure
    assert failure is not None
    assert (failure.rank, failure.pod) == (1, "crash-node-1")
    pod_exit = kubectl("get", "pod", "crash-node-1", "-o", "jsonpath={.status.containerStatuses[0].state.terminated.exitCode}").stdout
    assert failure.exit_code == int(pod_exit) != 0
    assert f"rank 1 (crash-node-1), exit code {pod_exit}" in str(raised.value)
