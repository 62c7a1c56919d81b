"""Submitting the tiny job with the `llmtrain` CLI, exactly as a user does, its live progress
bar on this terminal."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from e2e.demo.cluster import Cluster
from e2e.demo.console import detail
from testenv.paths import REPO_ROOT

JOB_FILE = REPO_ROOT / "manifests" / "examples" / "tiny-cpu.yaml"
JOB_NAME = "tiny-cpu"
# A generous bound: the job takes about a minute on 2 cores; a hung job must not hang the demo.
WAIT_TIMEOUT = "15m"


def cli() -> Path:
    """The `llmtrain` console script of this Python's environment."""
    return Path(sys.executable).with_name("llmtrain")


def delete_previous(cluster: Cluster, namespace: str) -> None:
    """Delete the job of an earlier run on a reused cluster (the CLI waits until its pods are gone)."""
    exists = cluster.kubectl("-n", namespace, "get", "llmtrainingjob", JOB_NAME, check=False)
    if exists.returncode == 0:
        detail(f"deleting {JOB_NAME} of an earlier run")
        subprocess.run(
            [
                str(cli()),
                "delete",
                JOB_NAME,
                "--wait",
                "--timeout=2m",
                "-n",
                namespace,
                f"--kubeconfig={cluster.kubeconfig}",
            ],
            check=True,
        )


def submit_and_wait(cluster: Cluster, namespace: str) -> int:
    """`llmtrain submit tiny-cpu.yaml --wait`; its exit code (0 when the job succeeded)."""
    argv = [
        str(cli()),
        "submit",
        str(JOB_FILE.relative_to(REPO_ROOT)),
        "--wait",
        f"--timeout={WAIT_TIMEOUT}",
        "-n",
        namespace,
        f"--kubeconfig={cluster.kubeconfig}",
    ]
    detail("$ " + shlex.join(["llmtrain", *argv[1:]]))
    return subprocess.run(argv, cwd=REPO_ROOT, check=False).returncode
