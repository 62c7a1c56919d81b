"""The operator's main paths on real nodes: pods as containers run by kubelets on containerd,
on two nodes, with DNS-based rendezvous, the operator itself a Deployment from the chart.

The tests run in this order; the last one uninstalls the release."""

from __future__ import annotations

import signal
from pathlib import Path

from e2e.realnodes.nodejobs import kill_container, node_job, token_data
from e2e.surfaces import Cli, checkpoint_steps, resumed_step
from llmtrain import TrainingClient
from support.job_helpers import command_job, job_checkpoints
from support.operator_release import OperatorRelease
from testenv.containers.cluster import ContainerCluster
from testenv.testing import eventually

# Long enough that a job is still training when a test acts on it: steps take about 50 ms here.
STEPS = 300


def _checkpointed(client: TrainingClient, name: str, step: int = 20) -> int:
    def ready() -> int | None:
        status = client.get(name).status
        if status is None or status.phase != "Running" or status.checkpoint is None:
            return None
        return status.checkpoint.step if status.checkpoint.step >= step else None

    return eventually(ready, timeout=300, interval=1)


def test_the_operator_runs_as_the_charts_deployment_non_root_on_a_read_only_root(
    operator_release: OperatorRelease,
) -> None:
    pod = operator_release.pod()
    probe = "import os; print(os.getuid()); open('/written-at-run-time', 'w')"
    result = operator_release.kubectl("exec", pod, "--", "python", "-c", probe, check=False)
    assert result.stdout.split() == ["65532"], result.stdout + result.stderr
    assert "Read-only file system" in result.stderr, result.stderr
    # The kubelet's liveness probe reached the operator's /healthz.
    eventually(lambda: "kube-probe" in operator_release.log(200), timeout=120, interval=2)


def test_the_tiny_job_spans_two_nodes_and_survives_a_killed_container_and_a_restarted_operator(
    real_cluster: ContainerCluster,
    operator_release: OperatorRelease,
    node_cli: Cli,
    node_client: TrainingClient,
    node_namespace: str,
    tmp_path: Path,
) -> None:
    data = token_data(tmp_path / "data")
    checkpoints = tmp_path / "ckpt"
    node_cli.submit(node_job("tiny", data, checkpoints, steps=STEPS), tmp_path)
    saved = _checkpointed(node_client, "tiny")
    first = node_cli.pods("tiny")
    assert len({p["spec"]["nodeName"] for p in first}) == 2, "the two ranks share a node"

    operator_pod = operator_release.pod()
    real_cluster.kubectl("-n", OperatorRelease.NAMESPACE, "delete", "pod", operator_pod, "--wait=false")
    kill_container(real_cluster, node_namespace, "tiny-node-1", signal.SIGKILL)
    final = node_client.wait("tiny", timeout=600)

    assert final.status is not None and final.status.phase == "Succeeded", final.status
    assert (final.status.restarts, final.status.attempt) == (1, 2)
    assert operator_release.pod() != operator_pod
    events = node_cli.kubectl("get", "events", "--field-selector=involvedObject.name=tiny", "-o", "yaml").stdout
    assert "exit code 137" in events and "SIGKILL" in events, events
    logs = node_cli.llmtrain("logs", "tiny").stdout
    for rank in (0, 1):
        assert f"[rank {rank}]" in logs, f"no line of rank {rank} in llmtrain logs:\n{logs[-2000:]}"
        resumed = resumed_step(node_cli.rank_log("tiny", rank))
        assert resumed is not None and resumed >= saved, f"rank {rank} resumed at {resumed}, checkpoint was {saved}"
    assert checkpoint_steps(job_checkpoints(checkpoints, "tiny"))[-1] == STEPS


def test_a_rank_out_of_memory_restarts_the_gang_and_is_reported_as_oomkilled(
    node_cli: Cli, node_client: TrainingClient, tmp_path: Path
) -> None:
    # Rank 1's worker touches more memory than the pod's limit: the kernel's OOM killer, not
    # the test, stops it.
    code = "import os, time; b = b'x' * (3 << 30) if os.environ['GROUP_RANK'] == '1' else time.sleep(600)"
    job = command_job(
        "oom",
        ["--no-python", "python3", "-c", code],
        resources={"cpu": "500m", "memory": "1Gi"},
        runPolicy={"backoffLimit": 1},
    )
    node_cli.submit(job, tmp_path)
    final = node_client.wait("oom", timeout=300, raise_on_failure=False)

    assert final.status is not None and final.status.phase == "Failed"
    assert final.status.restarts == 1, "the gang was restarted once, then the backoff limit was reached"
    failure = final.status.failure
    assert failure is not None
    assert (failure.reason, failure.exit_code, failure.rank) == ("BackoffLimitExceeded", 137, 1), failure
    assert failure.message.startswith("OOMKilled on rank 1 (oom-node-1), exit code 137"), failure.message
    assert "SIGKILL" in failure.message, failure.message


def test_an_invalid_config_fails_once_through_the_termination_message(
    node_cli: Cli, node_client: TrainingClient, tmp_path: Path
) -> None:
    data = token_data(tmp_path / "data")
    job = node_job("invalid", data, tmp_path / "ckpt", steps=STEPS)
    job["spec"]["trainer"]["data"]["paths"] = [f"{data}/missing.bin"]
    node_cli.submit(job, tmp_path)
    final = node_client.wait("invalid", timeout=300, raise_on_failure=False)

    assert final.status is not None and final.status.phase == "Failed"
    assert final.status.restarts == 0
    failure = final.status.failure
    assert failure is not None and failure.reason == "InvalidConfig", failure
    assert "missing.bin" in failure.message, failure.message
    # The kubelet read the report from the termination-message file: the log's tail would
    # start with the trainer's earlier lines.
    failed_pod = next(p for p in node_cli.pods("invalid") if p["metadata"]["name"] == failure.pod)
    message = failed_pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"]
    assert message.startswith("llmtrain-trainer: InvalidConfig: "), message


def test_a_suspended_job_resumes_from_its_checkpoint(
    node_cli: Cli, node_client: TrainingClient, tmp_path: Path
) -> None:
    data = token_data(tmp_path / "data")
    checkpoints = tmp_path / "ckpt"
    node_cli.submit(node_job("paused", data, checkpoints, steps=STEPS), tmp_path)
    saved = _checkpointed(node_client, "paused")

    node_cli.llmtrain("suspend", "paused")
    node_client.wait("paused", until={"Suspended"}, timeout=180)
    eventually(lambda: not node_cli.pods("paused"), timeout=180, interval=1)
    node_cli.llmtrain("resume", "paused")
    final = node_client.wait("paused", timeout=600)

    assert final.status is not None and final.status.phase == "Succeeded"
    for rank in (0, 1):
        resumed = resumed_step(node_cli.rank_log("paused", rank))
        assert resumed is not None and resumed >= saved, f"rank {rank} resumed at {resumed}, checkpoint was {saved}"


def test_helm_upgrade_and_uninstall_leave_a_running_job_alone(
    operator_release: OperatorRelease, node_cli: Cli, node_client: TrainingClient, tmp_path: Path
) -> None:
    data = token_data(tmp_path / "data")
    node_cli.submit(node_job("steady", data, tmp_path / "ckpt", steps=STEPS), tmp_path)
    _checkpointed(node_client, "steady", step=1)
    pods = {p["metadata"]["uid"] for p in node_cli.pods("steady")}

    operator_release.install("operator.logLevel=DEBUG")
    assert {p["metadata"]["uid"] for p in node_cli.pods("steady")} == pods
    operator_release.uninstall()
    assert node_cli.kubectl("get", "llmtrainingjob", "steady", "-o", "name").stdout.strip()
    assert {p["metadata"]["uid"] for p in node_cli.pods("steady")} == pods

    operator_release.install()
    final = node_client.wait("steady", timeout=600)
    assert final.status is not None and final.status.phase == "Succeeded"
    assert final.status.restarts == 0
