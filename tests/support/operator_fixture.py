"""pytest plugin: the operator running for real against the test control plane.

`running_operator` (session) installs the generated CRD and the chart's ServiceAccount and
RBAC, then runs `python -m llmtrain_operator` as a subprocess that authenticates as that
ServiceAccount, so a verb missing from the chart fails the tests that need it. The node
agent of `node_agent` runs the pods it creates. A failing test gets the operator's log.

`RunningOperator.sample(name, **labels)` reads one value of its /metrics page;
`wait_for_reconciles` waits until it has looked at every job again, the positive signal a
test needs before it asserts that nothing changed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Generator, Iterator, Mapping
from pathlib import Path

import pytest
import yaml
from pluggy import Result
from prometheus_client.parser import text_string_to_metric_families

from support.chart_rbac import operator_rbac_objects, service_account_name
from support.crd_install import install_crd
from testenv import procs
from testenv.controlplane import ControlPlane
from testenv.netutil import free_port, http_ok, wait_until
from testenv.nodeagent import NodeAgent

# Not the chart's default namespace: the chart's own tests install and remove that one.
OPERATOR_NAMESPACE = "llmtrain-operator-under-test"
RESYNC_SECONDS = "1"
RECONCILES = "llmtrain_operator_reconcile_duration_seconds_count"
_RUNNING: list[RunningOperator] = []


class RunningOperator:
    """The operator process; `restart()` stops it and starts a new one. `env` adds to (or
    overrides) its environment, e.g. LLMTRAIN_PEERING or LLMTRAIN_NAMESPACES."""

    def __init__(self, kubeconfig: Path, log: Path, env: Mapping[str, str] | None = None) -> None:
        self.kubeconfig = kubeconfig
        self.log = log
        self.extra_env = dict(env or {})
        self.metrics_port = free_port()
        self.health_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RunningOperator:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "LLMTRAIN_SCRAPE_INTERVAL_SECONDS": RESYNC_SECONDS,
            "LLMTRAIN_METRICS_PORT": str(self.metrics_port),
            "LLMTRAIN_HEALTH_PORT": str(self.health_port),
            "LLMTRAIN_DEFAULT_IMAGE": "llmtrain/trainer:test",
            "LLMTRAIN_LOG_FORMAT": "plain",
            **self.extra_env,
        }
        self.process = procs.spawn([sys.executable, "-m", "llmtrain_operator"], self.log, env=env)
        wait_until(self._healthy, timeout=60, what="the operator's liveness endpoint")
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"the operator exited with {self.process.returncode}:\n{procs.tail(self.log)}")
        return http_ok(f"http://127.0.0.1:{self.health_port}/healthz")

    def stop(self) -> None:
        if self.process is not None:
            procs.stop(self.process)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def metrics(self) -> str:
        """The operator's own /metrics page."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            return str(response.read().decode())

    def sample(self, name: str, **labels: str) -> float:
        """The value of the sample `name` (e.g. `llmtrain_operator_pods_created_total`) with
        exactly these labels on the /metrics page; 0 when the page has none (a counter with
        labels appears once it is first incremented)."""
        for family in text_string_to_metric_families(self.metrics()):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return float(sample.value)
        return 0.0

    def reconciles(self) -> float:
        """How many reconciles this operator process has finished (the count of its
        reconcile-duration histogram; a restarted process counts from 0)."""
        return self.sample(RECONCILES)


def wait_for_reconciles(
    operator: RunningOperator, control_plane: ControlPlane, since: float, passes: int = 3, timeout: float = 120
) -> float:
    """Wait until the operator's reconcile count has passed `since` by `passes` reconciles of
    every job in the cluster (the resync loop reconciles each of them every pass), so that it
    has looked at the test's jobs again since `since`; returns the count.

    Tests that assert that nothing changed wait for this first: without it the assertion
    also holds when the operator has not yet acted at all (e.g. right after a restart)."""
    listed = control_plane.kubectl("get", "llmtrainingjobs", "--all-namespaces", "-o", "name").stdout
    target = since + passes * max(1, len(listed.split()))
    wait_until(lambda: operator.reconciles() >= target, timeout, f"{target:.0f} reconciles (from {since:.0f})", 0.5)
    return operator.reconciles()


@pytest.fixture(scope="session")
def running_operator(control_plane: ControlPlane, node_agent: NodeAgent) -> Iterator[RunningOperator]:
    install_crd(control_plane.kubectl)
    control_plane.kubectl("create", "namespace", OPERATOR_NAMESPACE, check=False)
    rbac = yaml.safe_dump_all(operator_rbac_objects(OPERATOR_NAMESPACE))
    control_plane.kubectl("apply", "-f", "-", input=rbac)
    kubeconfig = control_plane.service_account_kubeconfig(OPERATOR_NAMESPACE, service_account_name(), create=False)
    with tempfile.TemporaryDirectory(prefix="llmtrain-operator-") as workdir:
        operator = RunningOperator(kubeconfig, Path(workdir) / "operator.log").start()
        _RUNNING.append(operator)
        try:
            yield operator
        finally:
            _RUNNING.remove(operator)
            operator.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Result[pytest.TestReport], None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.failed and _RUNNING:
        report.sections.append(("llmtrain operator log (end)", procs.tail(_RUNNING[-1].log, 80)))
