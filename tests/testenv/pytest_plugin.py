"""pytest fixtures for the real control plane and the node agent (registered in
tests/conftest.py).

- `control_plane` (session): a started `ControlPlane`; the tests using it get the
  `cluster` marker, and a failing one gets the end of every component's log in its report.
  Its API server keeps an audit log of the ServiceAccounts' requests
  (`SERVICE_ACCOUNT_AUDIT_POLICY`; `control_plane.audit_events()`).
- `node_agent` (session): a `NodeAgent` in process mode with two nodes of 8 GPUs each
  ("gpu-node-0", "gpu-node-1", labelled `llmtrain.dev/pool=gpu`).
- `namespace` (function): a fresh namespace (deleted afterwards) named after the test.
- `kubectl` (function): `control_plane.kubectl` with the test's namespace by default.
- `user_kubeconfig` (function): the admin kubeconfig with the test's namespace as its
  context's namespace, which is what a user of kubectl, the CLI or the SDK has.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
import yaml

from testenv.controlplane import SERVICE_ACCOUNT_AUDIT_POLICY, ControlPlane, ControlPlaneSettings
from testenv.nodeagent import NodeAgent, NodeSpec

GPU_NODES = [NodeSpec(f"gpu-node-{i}", gpus=8, labels={"llmtrain.dev/pool": "gpu"}) for i in range(2)]
_STARTED: list[ControlPlane] = []

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    cp = ControlPlane(ControlPlaneSettings(audit_policy=SERVICE_ACCOUNT_AUDIT_POLICY)).start()
    print(f"\ntestenv: control plane up in {cp.startup_seconds:.1f}s at {cp.server}")
    _STARTED.append(cp)
    try:
        yield cp
    finally:
        _STARTED.remove(cp)
        cp.stop()


@pytest.fixture(scope="session")
def node_agent(control_plane: ControlPlane) -> Iterator[NodeAgent]:
    agent = NodeAgent(control_plane, GPU_NODES, mode="process").start()
    try:
        yield agent
    finally:
        agent.stop()


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    name = control_plane.create_namespace(re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40])
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def kubectl(control_plane: ControlPlane, namespace: str) -> Kubectl:
    def run(
        *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return control_plane.kubectl("-n", namespace, *args, input=input, check=check, timeout=timeout)

    return run


@pytest.fixture
def user_kubeconfig(control_plane: ControlPlane, namespace: str, tmp_path: Path) -> Path:
    config = yaml.safe_load(control_plane.kubeconfig_path.read_text())
    config["contexts"][0]["context"]["namespace"] = namespace
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "control_plane" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cluster)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and _STARTED:
        for name, text in _STARTED[-1].log_tails().items():
            report.sections.append((f"testenv: end of {name} log", text or "(empty)"))
    return report
