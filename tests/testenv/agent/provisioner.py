"""A default StorageClass whose claims get hostPath PersistentVolumes under the agent's
state directory, so PVCs bind (and pods using them schedule) as on a real cluster."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from testenv.kubeapi import ApiError, KubeAPI, Obj

STORAGE_CLASS = "standard"
PROVISIONER = "testenv.llmtrain.dev/hostpath"
POLL_SECONDS = 0.5


def install_storage_class(api: KubeAPI) -> None:
    storage_class = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": STORAGE_CLASS,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }
    try:
        api.create("/apis/storage.k8s.io/v1/storageclasses", storage_class)
    except ApiError as e:
        if e.status != 409:
            raise


class Provisioner(threading.Thread):
    """Creates a PV for each pending claim of the class, deletes released PVs it made.

    world_writable: make each volume's directory writable by every user, as local-path
    provisioners do; pods of real nodes run as non-root users, and the kubelet applies no
    fsGroup to hostPath volumes.
    """

    def __init__(self, api: KubeAPI, root: Path, stop: threading.Event, *, world_writable: bool = False) -> None:
        super().__init__(name="provisioner", daemon=True)
        self.api, self.root, self.stop_event = api, root, stop
        self.world_writable = world_writable

    def run(self) -> None:
        while not self.stop_event.wait(POLL_SECONDS):
            try:
                self._provision()
                self._reclaim()
            except (ApiError, OSError) as e:
                print(f"provisioner: {e}", flush=True)

    def _provision(self) -> None:
        for claim in self.api.get("/api/v1/persistentvolumeclaims")["items"]:
            if claim["spec"].get("storageClassName") != STORAGE_CLASS or claim["spec"].get("volumeName"):
                continue
            if claim.get("status", {}).get("phase") != "Pending":
                continue
            self._create_volume(claim)

    def _create_volume(self, claim: Obj) -> None:
        meta = claim["metadata"]
        name = f"pvc-{meta['uid']}"
        path = self.root / name
        volume = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name, "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
            "spec": {
                "capacity": {"storage": claim["spec"]["resources"]["requests"]["storage"]},
                "accessModes": claim["spec"].get("accessModes", ["ReadWriteOnce"]),
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": STORAGE_CLASS,
                "volumeMode": claim["spec"].get("volumeMode", "Filesystem"),
                "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
                "claimRef": {
                    "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                    "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"],
                },
            },
        }  # fmt: skip
        path.mkdir(parents=True, exist_ok=True)
        if self.world_writable:
            path.chmod(0o777)
        try:
            self.api.create("/api/v1/persistentvolumes", volume)
        except ApiError as e:
            if e.status != 409:
                raise

    def _reclaim(self) -> None:
        for volume in self.api.get("/api/v1/persistentvolumes")["items"]:
            annotations = volume["metadata"].get("annotations", {})
            if annotations.get("pv.kubernetes.io/provisioned-by") != PROVISIONER:
                continue
            if volume.get("status", {}).get("phase") != "Released":
                continue
            try:
                self.api.delete(f"/api/v1/persistentvolumes/{volume['metadata']['name']}")
            except ApiError as e:
                if e.status != 404:
                    raise
            shutil.rmtree(self.root / volume["metadata"]["name"], ignore_errors=True)
