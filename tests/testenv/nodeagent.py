"""Starts and stops the node agent (`python -m testenv.agent`) for a `ControlPlane`.

    agent = NodeAgent(cp, [NodeSpec("gpu-0", gpus=8)]).start()

The agent runs in its own process so that the pods it starts, its threads and its
signal handling stay apart from the test process, and so that the local cluster can run
the very same thing in the background.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from testenv import procs
from testenv.agentconfig import AgentConfig, Mode, NodeAgentSettings, NodeSpec, SimulateSettings
from testenv.controlplane import ControlPlane
from testenv.netutil import wait_until
from testenv.paths import PODNET_SHIM, REPO_ROOT, VENV_BIN, binary

__all__ = ["NodeAgent", "NodeAgentSettings", "NodeSpec", "SimulateSettings"]


class NodeAgent:
    """The node agent process serving `nodes` of `cluster`."""

    def __init__(
        self,
        cluster: ControlPlane,
        nodes: Sequence[NodeSpec],
        mode: Mode | None = None,
        settings: NodeAgentSettings | None = None,
        name: str = "node-agent",
    ) -> None:
        self.cluster = cluster
        self.nodes = list(nodes)
        self.settings = settings or NodeAgentSettings()
        if mode is not None:
            self.settings.mode = mode
        self.name = name
        self.state_dir = cluster.workdir / name
        self.log = cluster.workdir / "logs" / f"{name}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> NodeAgent:
        """Start the agent; return once every node is registered and Ready."""
        if self.settings.mode == "process":
            binary(PODNET_SHIM.name)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        config = AgentConfig(
            kubeconfig=self.cluster.kubeconfig_path,
            ca_cert=self.cluster.ca_cert,
            serving_cert=self.cluster.kubelet_serving.cert,
            serving_key=self.cluster.kubelet_serving.key,
            host=self.cluster.settings.host,
            api_host=self.cluster.settings.host,
            api_port=self.cluster.port,
            state_dir=self.state_dir,
            ready_file=self.state_dir / "ready",
            shim=PODNET_SHIM,
            venv_bin=VENV_BIN if VENV_BIN.exists() else Path(sys.executable).parent,
            nodes=self.nodes,
            settings=self.settings,
        )
        config_path = self.state_dir / "config.json"
        config.dump(config_path)
        config.ready_file.unlink(missing_ok=True)
        self.log.parent.mkdir(exist_ok=True)
        self._proc = procs.spawn(
            [sys.executable, "-m", "testenv.agent", config_path],
            self.log,
            env=_env_with_tests_on_path(),
            die_with_parent=self.settings.die_with_parent,
        )
        self.cluster.logs[self.name] = self.log

        def ready() -> bool:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(f"node agent exited with {self._proc.returncode}:\n{procs.tail(self.log)}")
            return config.ready_file.exists()

        wait_until(ready, timeout, "the node agent to register its nodes")
        return self

    def stop(self) -> None:
        """Stop the agent; it stops every pod process it started first."""
        if self._proc is not None:
            procs.stop(self._proc, grace=30)
            self._proc = None

    def __enter__(self) -> NodeAgent:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def node_names(self) -> list[str]:
        return [n.name for n in self.nodes]


def _env_with_tests_on_path() -> dict[str, str]:
    env = dict(os.environ)
    tests = str(REPO_ROOT / "tests")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (tests, env.get("PYTHONPATH", "")) if p)
    return env
