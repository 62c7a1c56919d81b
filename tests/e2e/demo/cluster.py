"""The local cluster of the demo: started (or reused) through tests/testenv, and kubectl bound
to its admin kubeconfig."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testenv.localcluster import LocalClusterSettings, running_pid
from testenv.paths import REPO_ROOT, binary


class KubectlError(RuntimeError):
    """kubectl exited non-zero; the message carries its stderr."""


@dataclass(frozen=True)
class Cluster:
    """A running local cluster; `started` says whether this demo started it (and so stops it)."""

    settings: LocalClusterSettings
    started: bool

    @property
    def kubeconfig(self) -> Path:
        return self.settings.kubeconfig

    @property
    def directory(self) -> Path:
        return self.settings.directory

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """The real kubectl with the admin kubeconfig."""
        argv = [str(binary("kubectl")), f"--kubeconfig={self.kubeconfig}", *args]
        result = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise KubectlError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def kubectl_json(self, *args: str) -> Any:
        """`kubectl ... -o json`, parsed."""
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def apply(self, *objects: dict[str, Any]) -> None:
        """kubectl apply the objects."""
        self.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}))


def _testenv(command: str, settings: LocalClusterSettings) -> None:
    # `python -m testenv up|down` as `make cluster-up` runs it, in a child process: the
    # supervisor it starts must not be our child, or once stopped it would linger as our
    # zombie and `down` would take it for alive until its timeout.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT / "tests"), os.environ.get("PYTHONPATH")])),
    }
    argv = [sys.executable, "-m", "testenv", command, f"--dir={settings.directory}"]
    if command == "up":
        argv.append(f"--node-kind={settings.node_kind}")
    subprocess.run(argv, env=env, check=True)


def start(settings: LocalClusterSettings) -> Cluster:
    """Start the local cluster, or reuse the one already running in `settings.directory`."""
    running = running_pid(settings) is not None and settings.ready_file.exists()
    if not running:
        _testenv("up", settings)
    return Cluster(settings, started=not running)


def stop(cluster: Cluster) -> None:
    """Stop the cluster (its pods first)."""
    _testenv("down", cluster.settings)
