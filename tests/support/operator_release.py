"""The operator as a user installs it: `helm upgrade --install` of charts/llmtrain-operator, the
operator image run by a kubelet as the chart's Deployment (non-root, read-only root filesystem,
probes). Used on clusters with real nodes (the tests and `make demo NODES=containers`)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from support.chart_rbac import helm
from testenv.paths import REPO_ROOT, binary

CHART = REPO_ROOT / "charts" / "llmtrain-operator"


@dataclass
class OperatorRelease:
    """One helm release of the chart in `NAMESPACE`, on the cluster of `kubeconfig`."""

    kubeconfig: Path
    NAMESPACE: ClassVar[str] = "llmtrain-system"
    NAME: ClassVar[str] = "llmtrain-operator"
    # Progress within seconds, so that short runs show their checkpoints and a lively bar.
    VALUES: ClassVar[tuple[str, ...]] = ("--set", "operator.scrapeIntervalSeconds=2")

    def install(self, *set_values: str) -> None:
        """Install the release, or upgrade it with `set_values` ("key=value"), and wait for its pod."""
        sets = [arg for value in set_values for arg in ("--set", value)]
        helm(
            "upgrade", "--install", self.NAME, str(CHART), "-n", self.NAMESPACE, "--create-namespace",
            "--wait", "--timeout=5m", *self.VALUES, *sets,
            kubeconfig=self.kubeconfig, timeout=330,
        )  # fmt: skip
        self.kubectl("rollout", "status", f"deployment/{self.NAME}", "--timeout=180s", timeout=200)

    def uninstall(self) -> None:
        helm("uninstall", self.NAME, "-n", self.NAMESPACE, "--wait", kubeconfig=self.kubeconfig)

    def pod(self) -> str:
        """The name of the operator's running pod."""
        return self.kubectl(
            "get", "pods", "-l", f"app.kubernetes.io/instance={self.NAME}",
            "--field-selector=status.phase=Running", "-o", "jsonpath={.items[0].metadata.name}",
        ).stdout  # fmt: skip

    def log(self, lines: int = 40) -> str:
        """The end of the operator's log ("" when it cannot be read)."""
        return self.kubectl("logs", f"deployment/{self.NAME}", f"--tail={lines}", check=False).stdout

    def kubectl(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        argv = [str(binary("kubectl")), f"--kubeconfig={self.kubeconfig}", "-n", self.NAMESPACE, *args]
        return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=timeout)
