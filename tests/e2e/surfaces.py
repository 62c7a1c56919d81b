"""The public surfaces the end-to-end tests drive jobs through: the `llmtrain` CLI as a
subprocess, kubectl, and the SDK; plus reading what a job's pods logged."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from llmtrain.api.names import pod_selector
from testenv.paths import binary

_RESUMED = re.compile(r"resumed from (\S+) at step (\d+)")


@dataclass(frozen=True)
class Cli:
    """`llmtrain` and `kubectl` with the user's kubeconfig."""

    kubeconfig: Path

    def llmtrain(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 240
    ) -> subprocess.CompletedProcess[str]:
        """Run the CLI; with `check`, a non-zero exit fails with its output."""
        argv = [str(Path(sys.executable).with_name("llmtrain")), *args, f"--kubeconfig={self.kubeconfig}"]
        result = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
        if check:
            assert result.returncode == 0, (
                f"llmtrain {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
            )
        return result

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl."""
        argv = [str(binary("kubectl")), f"--kubeconfig={self.kubeconfig}", *args]
        result = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=60)
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
        return result

    def submit(self, job: dict[str, Any], directory: Path) -> None:
        """Write the job to a YAML file and `llmtrain submit` it."""
        path = directory / f"{job['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(job))
        self.llmtrain("submit", str(path))

    def children(self, job: str, kinds: str = "pods,services,configmaps") -> list[str]:
        """`kind/name` of the objects labelled as the job's."""
        listed = json.loads(self.kubectl("get", kinds, "-l", pod_selector(job), "-o", "json").stdout)
        return [f"{item['kind']}/{item['metadata']['name']}" for item in listed["items"]]

    def pods(self, job: str) -> list[dict[str, Any]]:
        """The job's pods."""
        listed = json.loads(self.kubectl("get", "pods", "-l", pod_selector(job), "-o", "json").stdout)
        return list(listed["items"])

    def rank_log(self, job: str, rank: int = 0) -> str:
        """`kubectl logs <job>-node-<rank>`."""
        return self.kubectl("logs", f"{job}-node-{rank}").stdout


def resumed_step(log: str) -> int | None:
    """The step a trainer's log says it resumed at (None when it started fresh)."""
    found = _RESUMED.search(log)
    return int(found.group(2)) if found else None


def checkpoint_steps(directory: Path) -> list[int]:
    """The steps of the complete checkpoints in a job's checkpoint directory."""
    return sorted(
        int(p.name.removeprefix("step-")) for p in directory.glob("step-*") if re.fullmatch(r"step-\d+", p.name)
    )
