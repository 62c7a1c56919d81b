"""A pod's volumes as host directories, and the bind mounts that put them at their mount paths.

emptyDir is a fresh directory, configMap/secret/downwardAPI/projected volumes are files
written once when the pod starts (not refreshed), hostPath is the path itself, and a
persistentVolumeClaim is the hostPath (or local path) of the PersistentVolume bound to it.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from testenv.agent import podenv
from testenv.agent.network import LOCK_DIR
from testenv.kubeapi import ApiError, KubeAPI, Obj


class MountError(Exception):
    """A volume cannot be set up yet (the kubelet's FailedMount): retried until it can."""


@dataclass(frozen=True)
class Mount:
    """A host path to bind onto `target` in the pod's mount namespace."""

    source: Path
    target: str
    read_only: bool


def prepare(api: KubeAPI, pod: Obj, pod_dir: Path, allocatable: dict[str, str]) -> dict[str, Path]:
    """Host paths of every volume of `pod`, creating and filling them as needed."""
    paths: dict[str, Path] = {}
    for volume in pod["spec"].get("volumes", []):
        name = volume["name"]
        own = pod_dir / "volumes" / name
        if "hostPath" in volume:
            path = Path(volume["hostPath"]["path"])
            if volume["hostPath"].get("type") == "DirectoryOrCreate":
                path.mkdir(parents=True, exist_ok=True)
            paths[name] = path
        elif "persistentVolumeClaim" in volume:
            paths[name] = _claim_path(api, pod["metadata"]["namespace"], volume["persistentVolumeClaim"])
        else:
            own.mkdir(parents=True, exist_ok=True)
            files = _files(api, pod, volume, allocatable)
            for relative, (content, mode) in files.items():
                target = own / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
                target.chmod(mode)
            paths[name] = own
    return paths


def mounts_for(container: Obj, volumes: dict[str, Path]) -> list[Mount]:
    """The bind mounts of one container (volumeMounts, subPath included)."""
    mounts = []
    for vm in container.get("volumeMounts", []):
        source = volumes[vm["name"]]
        if vm.get("subPath"):
            source = source / vm["subPath"]
            if not source.exists():
                source.mkdir(parents=True)
        mounts.append(Mount(source, vm["mountPath"], bool(vm.get("readOnly"))))
    return mounts


def _claim_path(api: KubeAPI, namespace: str, ref: Obj) -> Path:
    name = ref["claimName"]
    try:
        claim = api.get(f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{name}")
    except ApiError as e:
        if e.status == 404:
            raise MountError(f'persistentvolumeclaim "{name}" not found') from e
        raise
    volume_name = claim["spec"].get("volumeName")
    if not volume_name or claim.get("status", {}).get("phase") != "Bound":
        raise MountError(f'persistentvolumeclaim "{name}" is not bound')
    pv = api.get(f"/api/v1/persistentvolumes/{volume_name}")["spec"]
    source = pv.get("hostPath") or pv.get("local")
    if source is None:
        raise MountError(f"persistentvolume {volume_name} is neither hostPath nor local")
    path = Path(source["path"])
    path.mkdir(parents=True, exist_ok=True)
    return path


Files = dict[str, tuple[bytes, int]]


def _files(api: KubeAPI, pod: Obj, volume: Obj, allocatable: dict[str, str]) -> Files:
    """The files of an emptyDir (none), configMap, secret, downwardAPI or projected volume."""
    namespace = pod["metadata"]["namespace"]
    if "configMap" in volume or "secret" in volume:
        kind = "configMap" if "configMap" in volume else "secret"
        return _key_files(api, namespace, kind, volume[kind], volume[kind].get("defaultMode", 0o644))
    if "downwardAPI" in volume:
        return _downward_files(pod, volume["downwardAPI"], allocatable)
    if "projected" in volume:
        files: Files = {}
        mode = volume["projected"].get("defaultMode", 0o644)
        for source in volume["projected"].get("sources") or []:
            if "serviceAccountToken" in source:
                files[source["serviceAccountToken"]["path"]] = (_token(api, pod, source["serviceAccountToken"]), mode)
            elif "configMap" in source or "secret" in source:
                kind = "configMap" if "configMap" in source else "secret"
                files.update(_key_files(api, namespace, kind, source[kind], mode))
            elif "downwardAPI" in source:
                files.update(_downward_files(pod, source["downwardAPI"], allocatable))
        return files
    return {}


def _key_files(api: KubeAPI, namespace: str, kind: str, ref: Obj, mode: int) -> Files:
    name = ref.get("name") or ref.get("secretName")
    plural = "configmaps" if kind == "configMap" else "secrets"
    try:
        obj = api.get(f"/api/v1/namespaces/{namespace}/{plural}/{name}")
    except ApiError as e:
        if e.status == 404 and ref.get("optional"):
            return {}
        if e.status == 404:
            raise MountError(f'{kind} "{name}" not found') from e
        raise
    data = podenv.data_of(obj)
    items = ref.get("items")
    if not items:
        return {key: (value, mode) for key, value in data.items()}
    files: Files = {}
    for item in items:
        if item["key"] not in data:
            if ref.get("optional"):
                continue
            raise MountError(f"key {item['key']} not found in {kind} {namespace}/{name}")
        files[item["path"]] = (data[item["key"]], item.get("mode", mode))
    return files


def _downward_files(pod: Obj, source: Obj, allocatable: dict[str, str]) -> Files:
    files: Files = {}
    for item in source.get("items", []):
        if "fieldRef" in item:
            value = podenv.field_value(pod, item["fieldRef"]["fieldPath"])
        else:
            container = pod["spec"]["containers"][0]["name"]
            value = podenv.resource_value(pod, item["resourceFieldRef"], container, allocatable)
        files[item["path"]] = (value.encode(), item.get("mode", source.get("defaultMode", 0o644)))
    return files


def _token(api: KubeAPI, pod: Obj, source: Obj) -> bytes:
    meta = pod["metadata"]
    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "audiences": [source["audience"]] if source.get("audience") else [],
            "expirationSeconds": source.get("expirationSeconds", 3600),
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]},
        },
    }
    account = pod["spec"].get("serviceAccountName", "default")
    answer = api.create(f"/api/v1/namespaces/{meta['namespace']}/serviceaccounts/{account}/token", request)
    return str(answer["status"]["token"]).encode()


class MountPoints:
    """Creates missing mount targets on the host and removes them when no pod needs them.

    A bind mount needs an existing target even in a private mount namespace, so a pod
    mounting /etc/llmtrain makes the agent create that (empty) directory on the host. Each
    pod holds a shared flock() on a lock file per created path, across agents of concurrent
    test sessions too; whoever then gets the exclusive lock is the last user and removes the
    path (removing a directory that is still a mount point elsewhere would unmount it there).
    """

    def acquire(self, mounts: list[Mount]) -> list[tuple[Path, int]]:
        """Create the missing targets of `mounts`; returns what to `release` afterwards."""
        held: list[tuple[Path, int]] = []
        try:
            for mount in mounts:
                self._create_target(mount, held)
        except OSError:
            # E.g. no permission to create it: leave no lock held and nothing half made.
            self.release(held)
            raise
        return held

    def _create_target(self, mount: Mount, held: list[tuple[Path, int]]) -> None:
        """Create the missing part of the path to `mount.target`, appending the locks to `held`."""
        chain = []
        path = Path(mount.target)
        while not os.path.lexists(path) or _lock_file(path).exists():
            chain.append(path)
            path = path.parent
        for path in reversed(chain):
            fd = os.open(_lock_file(path), os.O_CREAT | os.O_RDWR, 0o644)
            fcntl.flock(fd, fcntl.LOCK_SH)
            held.append((path, fd))
            # The shared lock lets pods starting at once both find the path missing.
            if not os.path.lexists(path):
                # A file is bind-mounted onto a file (a termination message file, a subPath).
                if path == Path(mount.target) and not mount.source.is_dir():
                    path.touch(exist_ok=True)
                else:
                    path.mkdir(exist_ok=True)

    def release(self, held: list[tuple[Path, int]]) -> None:
        for path, fd in reversed(held):
            os.close(fd)
            fd = os.open(_lock_file(path), os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if path.is_dir():
                    path.rmdir()
                else:
                    path.unlink()
            except OSError:
                pass  # still in use, or no longer empty: leave it
            finally:
                os.close(fd)


def _lock_file(path: Path) -> Path:
    LOCK_DIR.mkdir(exist_ok=True)
    return LOCK_DIR / ("mnt" + str(path).replace("%", "%25").replace("/", "%2F"))
