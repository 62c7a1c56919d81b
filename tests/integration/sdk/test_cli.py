"""The `llmtrain` command driven as a user drives it: a shell, a kubeconfig, pipes and exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from integration.sdk.jobs import TINY_ARGS, python_job
from llmtrain import JobFailed, TrainingClient
from llmtrain.cli.exitcodes import Exit
from testenv.controlplane import ControlPlane
from testenv.pytest_plugin import Kubectl

LLMTRAIN = Path(sys.executable).parent / "llmtrain"


def _run(kubeconfig: Path, command: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PATH": f"{LLMTRAIN.parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_generate_piped_into_submit_wait_trains_and_the_job_can_be_inspected(
    running_operator: object, user_kubeconfig: Path, tiny_data: str, namespace: str
) -> None:
    generate = " ".join(["llmtrain", "generate", "pretrain", "tiny-cli", "--label", "suite=cli", *TINY_ARGS])
    submitted = _run(user_kubeconfig, f"{generate} | llmtrain submit - --wait --timeout 5m")
    assert submitted.returncode == Exit.OK, submitted.stderr
    assert submitted.stdout.startswith("llmtrainingjob/tiny-cli created\n")
    # A finished built-in trainer job reports its last step; the loss appears only if the
    # operator read rank 0's metrics before a 20-step job ended (rendering: tests/unit/cli/test_render.py).
    assert re.fullmatch(
        r"llmtrainingjob/tiny-cli Succeeded in \w+: step 20/20(, loss [\d.]+)?, .*", submitted.stdout.splitlines()[1]
    )
    assert "tiny-cli: Running" in submitted.stderr
    assert re.search(r"^tiny-cli Succeeded ━", submitted.stderr, re.MULTILINE), submitted.stderr

    listed = _run(user_kubeconfig, "llmtrain list -l suite=cli")
    assert listed.returncode == Exit.OK, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["NAME", "PHASE", "NODES", "STEP", "LOSS", "AGE"]
    name, phase, nodes, step, loss, _ = row.split()
    assert (name, phase, nodes) == ("tiny-cli", "Succeeded", "0/2")
    # How far the figures got depends on when the operator last read rank 0's metrics.
    assert re.fullmatch(r"-|\d+/20", step) and re.fullmatch(r"-|[\d.]+", loss)
    assert _run(user_kubeconfig, "llmtrain list -l suite=other").stdout == ""

    described = _run(user_kubeconfig, "llmtrain describe tiny-cli")
    assert described.returncode == Exit.OK, described.stderr
    for expected in (
        "Gang:",
        "2 nodes x 1 processes = world size 2",
        "preset test",
        "Conditions:",
        "Succeeded",
        "Events:",
    ):
        assert expected in described.stdout

    as_json = _run(user_kubeconfig, "llmtrain get tiny-cli -o json")
    assert json.loads(as_json.stdout)["status"]["phase"] == "Succeeded"
    assert _run(user_kubeconfig, "llmtrain list -o name").stdout == "llmtrainingjob/tiny-cli\n"
    everywhere = _run(user_kubeconfig, "llmtrain list -A").stdout.splitlines()
    assert everywhere[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert [namespace, "tiny-cli", "Succeeded"] in [line.split()[:3] for line in everywhere[1:]]

    followed = _run(user_kubeconfig, "llmtrain logs tiny-cli -f --rank 0")
    assert followed.returncode == Exit.OK, followed.stderr
    assert followed.stdout and all(line.startswith("[rank 0] ") for line in followed.stdout.splitlines())

    logs = _run(user_kubeconfig, "llmtrain logs tiny-cli --rank 1")
    assert logs.returncode == Exit.OK, logs.stderr
    assert logs.stdout and all(line.startswith("[rank 1] ") for line in logs.stdout.splitlines())

    assert _run(user_kubeconfig, "llmtrain delete tiny-cli --wait --timeout 2m").returncode == Exit.OK
    gone = _run(user_kubeconfig, "llmtrain get tiny-cli")
    assert gone.returncode == Exit.NOT_FOUND
    assert gone.stderr.startswith('error: Job "tiny-cli" not found in namespace')


def test_a_failing_rank_fails_wait_in_python_and_exits_1_on_the_command_line(
    client: TrainingClient, user_kubeconfig: Path, kubectl: Kubectl
) -> None:
    code = (
        "import os, sys; print('rank', os.environ['GROUP_RANK'], flush=True); "
        "sys.exit(3 if os.environ['GROUP_RANK'] == '1' else 0)"
    )
    client.create(python_job("crash", code))
    with pytest.raises(JobFailed) as raised:
        client.wait("crash", timeout=180)
    failure = raised.value.failure
    assert failure is not None
    assert (failure.rank, failure.pod) == (1, "crash-node-1")
    pod_exit = kubectl(
        "get", "pod", "crash-node-1", "-o", "jsonpath={.status.containerStatuses[0].state.terminated.exitCode}"
    ).stdout
    assert failure.exit_code == int(pod_exit) != 0

    waited = _run(user_kubeconfig, "llmtrain wait crash")
    assert waited.returncode == Exit.JOB_FAILED
    assert f"error: Job crash failed: {failure.reason} on rank 1 (crash-node-1), exit code {pod_exit}" in waited.stderr
    assert "Traceback" not in waited.stderr


def test_waiting_past_the_timeout_exits_5(running_operator: object, user_kubeconfig: Path) -> None:
    job = python_job("sleeper", "import time; time.sleep(600)", nodes=1)
    job.spec.run_policy.suspend = True
    created = _run(user_kubeconfig, f"llmtrain submit - <<'EOF'\n{job.to_yaml()}EOF")
    assert created.returncode == Exit.OK, created.stderr
    waited = _run(user_kubeconfig, "llmtrain wait sleeper --for Succeeded --timeout 2s")
    assert waited.returncode == Exit.TIMEOUT
    assert "error: Job sleeper did not reach Succeeded within 2s (phase: Suspended)." in waited.stderr.splitlines()


def test_a_user_without_rights_gets_exit_4(
    running_operator: object, control_plane: ControlPlane, namespace: str
) -> None:
    kubeconfig = control_plane.service_account_kubeconfig(namespace, "viewer-of-nothing")
    denied = _run(kubeconfig, "llmtrain list")
    assert denied.returncode == Exit.CLUSTER
    assert denied.stderr.startswith("error: Permission denied:")
    assert "Role" in denied.stderr


def test_validate_reports_a_bad_name_a_negative_size_and_a_broken_rule_in_one_run(tmp_path: Path) -> None:
    # No cluster: the kubeconfig does not exist. Three problems of three kinds, all in one answer.
    job = tmp_path / "job.yaml"
    job.write_text(
        "apiVersion: llmtrain.dev/v1alpha1\n"
        "kind: LLMTrainingJob\n"
        "metadata: {name: Broken_Name}\n"
        "spec:\n"
        "  nodes: 2\n"
        "  resources: {gpus: 4, memory: -1Gi}\n"
        "  trainer:\n"
        "    model: {preset: test}\n"
        "    data: {paths: [/data/tokens.bin]}\n"
        "    parallelism: {tensorParallel: 3}\n"
    )
    for command in (f"llmtrain validate {job}", f"cat {job} | llmtrain validate -"):
        result = _run(tmp_path / "no-kubeconfig", command, timeout=60)
        assert result.returncode == Exit.INVALID == 2, result.stderr
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert lines[1:4] == [
            '  spec.resources.memory: "-1Gi" is negative; use a size such as 16Gi',
            "  spec.trainer.parallelism.tensorParallel: 3 does not divide nodes x procsPerNode = 8",
            "  metadata.name: metadata.name must be a DNS label: lower-case letters, digits and '-', "
            "starting with a letter and ending with a letter or digit",
        ], result.stderr
        assert "Traceback" not in result.stderr
