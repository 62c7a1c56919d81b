"""Jobs for real nodes and what the tests do to their containers.

Data and checkpoints are host directories mounted into the pods (both nodes are this
machine); they are made writable for the trainer image's non-root user. Each rank asks for
more than half of a node's CPUs, so the scheduler has to put the two ranks on two nodes.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from support.job_helpers import tiny_trainer_job, write_token_corpus
from testenv.containers.cluster import ContainerCluster

Job = dict[str, Any]
RANK_RESOURCES = {"cpu": "1200m", "memory": "2Gi"}


def shared_directory(path: Path) -> Path:
    """A host directory any user of a pod may write to."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o777)
    return path


def token_data(directory: Path) -> Path:
    """A directory holding the tiny jobs' token corpus."""
    write_token_corpus(shared_directory(directory))
    return directory


def node_job(name: str, data_dir: Path, checkpoint_dir: Path, *, steps: int, **spec: Any) -> Job:
    """The tiny trainer job on two nodes, its data mounted where the trainer config names it."""
    job = tiny_trainer_job(name, data_dir, shared_directory(checkpoint_dir), steps=steps, **spec)
    job["spec"].setdefault("resources", RANK_RESOURCES)
    job["spec"]["volumes"] = [{"name": "data", "hostPath": {"path": str(data_dir), "type": "Directory"}}]
    job["spec"]["volumeMounts"] = [{"name": "data", "mountPath": str(data_dir), "readOnly": True}]
    return job


def kill_container(cluster: ContainerCluster, namespace: str, pod: str, sig: signal.Signals = signal.SIGKILL) -> None:
    """Signal the main process of a pod's container through its node's containerd, as the
    kernel or a runtime would: nothing inside the pod sees it coming."""
    found = json.loads(cluster.kubectl("-n", namespace, "get", "pod", pod, "-o", "json").stdout)
    node = next(n for n in cluster.nodes if n.name == found["spec"]["nodeName"])
    container_id = found["status"]["containerStatuses"][0]["containerID"].removeprefix("containerd://")
    node.containerd.ctr("tasks", "kill", "--signal", sig.name, container_id)
