"""The operator as a user installs it, minus the container: the generated CRD, the chart's
ServiceAccount and RBAC rendered by the real `helm template`, and `python -m
llmtrain_operator` authenticating with that ServiceAccount's token, so the chart's RBAC is
what it runs under."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from e2e.demo.cluster import Cluster
from support.chart_rbac import DEFAULT_NAMESPACE, DEFAULT_RELEASE, render
from testenv import procs
from testenv.kubeconfig import write_kubeconfig
from testenv.netutil import free_port, http_ok, wait_until

# The chart's default full name, which is also its ServiceAccount's name.
SERVICE_ACCOUNT = DEFAULT_RELEASE
OPERATOR_NAMESPACE = DEFAULT_NAMESPACE
# How often the operator reads rank 0's metrics: often enough for a lively progress bar.
SCRAPE_INTERVAL_SECONDS = "2"


def install_rbac(cluster: Cluster, namespace: str = DEFAULT_NAMESPACE) -> list[str]:
    """The chart's ServiceAccount, ClusterRole and ClusterRoleBinding (cluster-wide, the chart's
    default); returns `Kind/name` of each."""
    cluster.kubectl("create", "namespace", namespace, check=False)
    objects = render(
        namespace=namespace,
        extra_args=["--show-only", "templates/serviceaccount.yaml", "--show-only", "templates/rbac.yaml"],
    )
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    return [f"{obj['kind']}/{obj['metadata']['name']}" for obj in objects]


def service_account_kubeconfig(cluster: Cluster, namespace: str = DEFAULT_NAMESPACE) -> Path:
    """A kubeconfig holding a TokenRequest token of the operator's ServiceAccount."""
    admin = yaml.safe_load(cluster.kubeconfig.read_text())["clusters"][0]["cluster"]
    token = cluster.kubectl("create", "token", SERVICE_ACCOUNT, "-n", namespace, "--duration=24h").stdout.strip()
    return write_kubeconfig(
        cluster.directory / "operator.kubeconfig",
        server=admin["server"],
        ca=Path(admin["certificate-authority"]),
        user=f"system:serviceaccount:{namespace}:{SERVICE_ACCOUNT}",
        token=token,
        namespace=namespace,
    )


@dataclass
class OperatorProcess:
    """The running operator: its process, log and ports."""

    process: subprocess.Popen[bytes]
    log: Path
    health_port: int
    pid_file: Path

    def healthy(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"the operator exited with {self.process.returncode}:\n{procs.tail(self.log)}")
        return http_ok(f"http://127.0.0.1:{self.health_port}/healthz")

    def stop(self) -> None:
        procs.stop(self.process)
        self.pid_file.unlink(missing_ok=True)


def stop_previous(directory: Path) -> None:
    """Stop an operator a previous `make demo KEEP=1` left running (its pid file)."""
    pid_file = directory / "operator.pid"
    try:
        pid = int(pid_file.read_text())
        # The operator runs in its own session: its process group is its pid.
        os.killpg(pid, signal.SIGTERM)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        pass
    pid_file.unlink(missing_ok=True)


def start(cluster: Cluster, *, keep: bool) -> OperatorProcess:
    """Run `python -m llmtrain_operator` under the ServiceAccount until healthy.

    With `keep` it outlives the demo (it stops with `make demo-down`); otherwise it dies with it.
    """
    stop_previous(cluster.directory)
    kubeconfig = service_account_kubeconfig(cluster)
    log = cluster.directory / "operator.log"
    health_port = free_port()
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "LLMTRAIN_SCRAPE_INTERVAL_SECONDS": SCRAPE_INTERVAL_SECONDS,
        "LLMTRAIN_METRICS_PORT": str(free_port()),
        "LLMTRAIN_HEALTH_PORT": str(health_port),
        "LLMTRAIN_DEFAULT_IMAGE": "llmtrain/trainer:local",
    }
    process = procs.spawn([sys.executable, "-m", "llmtrain_operator"], log, env=env, die_with_parent=not keep)
    pid_file = cluster.directory / "operator.pid"
    pid_file.write_text(str(process.pid))
    operator = OperatorProcess(process, log, health_port, pid_file)
    wait_until(operator.healthy, timeout=90, what="the operator's /healthz")
    return operator
