"""The cluster with real nodes, once for this directory's tests (and stopped after them, so
the rest of the suite has the machine): the images built from our Dockerfiles, two kubelets
on containerd, and the operator installed with `helm` as the chart's Deployment. Tests here
carry the `realnodes` marker (`make test REAL_NODES=0` leaves them out).
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
import yaml

from e2e.surfaces import Cli
from llmtrain import TrainingClient
from support.operator_release import OperatorRelease
from testenv import procs
from testenv.containers.cluster import ContainerCluster, ContainerClusterSettings
from testenv.images import build_images

_STARTED: list[ContainerCluster] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "real_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.realnodes)


@pytest.fixture(scope="package")
def real_cluster() -> Iterator[ContainerCluster]:
    cluster = ContainerCluster(ContainerClusterSettings(images=build_images())).start()
    print(f"\nrealnodes: {len(cluster.nodes)} nodes up in {cluster.startup_seconds:.0f}s")
    _STARTED.append(cluster)
    try:
        yield cluster
    finally:
        _STARTED.remove(cluster)
        cluster.stop()


@pytest.fixture(scope="package")
def operator_release(real_cluster: ContainerCluster) -> Iterator[OperatorRelease]:
    release = OperatorRelease(real_cluster.kubeconfig_path)
    release.install()
    yield release
    release.uninstall()


@pytest.fixture
def node_namespace(real_cluster: ContainerCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    name = real_cluster.cp.create_namespace(re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40])
    yield name
    real_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def node_cli(operator_release: OperatorRelease, node_namespace: str, tmp_path: Path) -> Cli:
    """The `llmtrain` CLI and kubectl of a user whose context is the test's namespace."""
    return Cli(_user_kubeconfig(operator_release.kubeconfig, node_namespace, tmp_path))


@pytest.fixture
def node_client(node_cli: Cli) -> Iterator[TrainingClient]:
    with TrainingClient(kubeconfig=node_cli.kubeconfig) as client:
        yield client


def _user_kubeconfig(admin: Path, namespace: str, directory: Path) -> Path:
    config = yaml.safe_load(admin.read_text())
    config["contexts"][0]["context"]["namespace"] = namespace
    path = directory / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and _STARTED:
        cluster = _STARTED[-1]
        for node in cluster.nodes:
            for log in (node.kubelet.log, node.containerd.log):
                report.sections.append((f"realnodes: end of {node.name} {log.name}", procs.tail(log, 30)))
        operator_log = OperatorRelease(cluster.kubeconfig_path).log()
        report.sections.append(("realnodes: operator log", operator_log))
    return report
