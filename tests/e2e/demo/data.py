"""The tiny job's data, put where the job reads it the way one would on any cluster: the
claims of tests/e2e/manifests/tiny-data.yaml, and a one-off pod that runs prepare_data.py
(mounted from a ConfigMap) with the data claim mounted at /data."""

from __future__ import annotations

from pathlib import Path

from e2e.demo.cluster import Cluster
from testenv.netutil import wait_until

E2E_DIR = Path(__file__).resolve().parents[1]
DATA_MANIFEST = E2E_DIR / "manifests" / "tiny-data.yaml"
SCRIPT = Path(__file__).resolve().with_name("prepare_data.py")
SCRIPT_CONFIGMAP = "tiny-data-script"
PREP_POD = "tiny-data-prep"
DATA_CLAIM = "tiny-data"
CHECKPOINT_CLAIM = "tiny-checkpoints"


def reset_checkpoints(cluster: Cluster, namespace: str) -> None:
    """Remove the checkpoint claim of an earlier run on a reused cluster: the job would
    otherwise resume from its last checkpoint and have nothing left to train."""
    cluster.kubectl(
        "-n", namespace, "delete", "pvc", CHECKPOINT_CLAIM, "--ignore-not-found", "--wait=true", "--timeout=60s"
    )


def prepare(cluster: Cluster, namespace: str) -> str:
    """Create the claims and run the data pod to completion; returns its log."""
    cluster.kubectl("-n", namespace, "delete", "pod", PREP_POD, "--ignore-not-found", "--wait=true", "--timeout=60s")
    configmap = cluster.kubectl(
        "-n",
        namespace,
        "create",
        "configmap",
        SCRIPT_CONFIGMAP,
        f"--from-file={SCRIPT}",
        "--dry-run=client",
        "-o",
        "yaml",
    ).stdout
    cluster.kubectl("-n", namespace, "apply", "-f", "-", input=configmap)
    cluster.kubectl("-n", namespace, "apply", "-f", str(DATA_MANIFEST))
    phase = ""

    def finished() -> bool:
        nonlocal phase
        phase = cluster.kubectl("-n", namespace, "get", "pod", PREP_POD, "-o", "jsonpath={.status.phase}").stdout
        return phase in ("Succeeded", "Failed")

    wait_until(finished, timeout=180, what=f"the data pod {PREP_POD} to finish", interval=0.5)
    log = cluster.kubectl("-n", namespace, "logs", PREP_POD, check=False).stdout.strip()
    if phase != "Succeeded":
        raise RuntimeError(f"the data pod {PREP_POD} ended {phase}:\n{log}")
    cluster.kubectl("-n", namespace, "delete", "pod", PREP_POD, "--wait=false")
    return log


def claim_host_path(cluster: Cluster, namespace: str, claim: str) -> Path:
    """Where the local cluster keeps a claim's volume on this machine (its hostPath PV)."""
    volume = cluster.kubectl("-n", namespace, "get", "pvc", claim, "-o", "jsonpath={.spec.volumeName}").stdout
    pv = cluster.kubectl_json("get", "pv", volume)["spec"]
    source = pv.get("hostPath") or pv["local"]
    return Path(source["path"])
