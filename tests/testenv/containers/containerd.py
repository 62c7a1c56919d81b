"""One node's container runtime: Debian's containerd with its CRI plugin, runc and the
bridge CNI plugin, all state under the node's directory.

containerd and the node's kubelet share a mount namespace of their own (a slave of the
host's), with fresh tmpfs on the few host paths they would otherwise write to. So two nodes,
or two clusters, never see each other's state, and when their processes end every mount they
made (container root filesystems, volumes, the pods' network namespaces) ends with them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from testenv import procs
from testenv.netns import NetworkNamespace
from testenv.netutil import wait_until

CNI_BIN_DIR = Path("/usr/lib/cni")
# Host paths containerd and the kubelet write to whatever their configuration says.
PRIVATE_HOST_PATHS = ("/run/containerd", "/var/log/containers")
CRI_NAMESPACE = "k8s.io"
# containerd's databases, rewritten in place: a node copying another's images needs its own.
BOLT_DATABASES = ("io.containerd.metadata.v1.bolt/meta.db", "io.containerd.snapshotter.v1.overlayfs/metadata.db")


@dataclass(frozen=True)
class PodNetwork:
    """The node's bridge and the subnet its pods get addresses from."""

    bridge: str
    subnet: str
    gateway: str


class Containerd:
    """containerd for one node, started in the cluster's network namespace."""

    def __init__(self, directory: Path, netns: NetworkNamespace, sandbox_image: str, network: PodNetwork) -> None:
        self.directory = directory
        self.netns = netns
        self.socket = directory / "containerd.sock"
        self.root = directory / "root"
        self.log = directory / "containerd.log"
        self._sandbox_image = sandbox_image
        self._network = network
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None, "containerd is not started"
        return self._proc.pid

    def start(self, timeout: float = 60) -> None:
        """Write the configuration, start containerd and wait until its socket answers."""
        config = self._write_config()
        mounts = " && ".join(f"mkdir -p {p} && mount -t tmpfs tmpfs {p}" for p in PRIVATE_HOST_PATHS)
        self._proc = procs.spawn(
            [
                "unshare", "--mount", "--propagation", "slave", "--",
                "sh", "-c", f'{mounts} && exec containerd --config "$0"', config,
            ],
            self.log,
            netns=self.netns,
        )  # fmt: skip
        wait_until(self._answers, timeout, f"containerd of {self.directory.name}", interval=0.2)

    def stop(self) -> None:
        if self._proc is not None:
            procs.stop(self._proc)
            self._proc = None

    def copy_root_from(self, root: Path) -> None:
        """Start with the images of another containerd root (one not in use): see `copy_root`."""
        assert self._proc is None, "copy images before this containerd starts"
        copy_root(root, self.root)

    def copy_root_to(self, destination: Path) -> None:
        """Copy this containerd's root (stopped) to `destination`: see `copy_root`."""
        assert self._proc is None, "stop containerd before copying its root"
        copy_root(self.root, destination)

    def import_image(self, archive: Path) -> None:
        """Make an image archive (docker-archive or OCI) known to the CRI, as a pull would."""
        self.ctr("images", "import", str(archive), timeout=1200)

    def ctr(self, *args: str, timeout: float = 60) -> str:
        result = subprocess.run(
            ["ctr", "--address", str(self.socket), "--namespace", CRI_NAMESPACE, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def _answers(self) -> bool:
        if self._proc is not None and self._proc.poll() is not None:
            raise RuntimeError(f"containerd exited with {self._proc.returncode}:\n{procs.tail(self.log)}")
        probe = subprocess.run(["ctr", "--address", str(self.socket), "version"], capture_output=True)
        return probe.returncode == 0

    def _write_config(self) -> Path:
        d = self.directory
        cni_conf = d / "cni"
        cni_conf.mkdir(parents=True, exist_ok=True)
        n = self._network
        conflist = {
            "cniVersion": "1.0.0",
            "name": n.bridge,
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": n.bridge,
                    "isGateway": True,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(d / "ipam"),
                        "ranges": [[{"subnet": n.subnet, "gateway": n.gateway}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                },
                {"type": "loopback"},
            ],
        }
        (cni_conf / "10-bridge.conflist").write_text(json.dumps(conflist, indent=2))
        config = d / "containerd.toml"
        config.write_text(
            f"""version = 2
root = "{self.root}"
state = "{d / "state"}"
oom_score = 0

[grpc]
  address = "{self.socket}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{self._sandbox_image}"
  # CAP_SYS_RESOURCE may be missing from the bounding set: a negative oom_score_adj would
  # then fail every sandbox ("can't get final child's PID from pipe").
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "{d / "runc"}"
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{cni_conf}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{d / "opt"}"
"""
        )
        return config


def copy_root(source: Path, destination: Path) -> None:
    """Copy a containerd root (of a containerd not running) in seconds where an import of the
    trainer image takes minutes: hard links to its blobs and unpacked layers, which nothing
    ever writes in place (a container's writes go to its own upper directory), and copies of
    its databases. Across file systems, where links cannot go, a whole copy."""
    shutil.rmtree(destination, ignore_errors=True)
    destination.parent.mkdir(parents=True, exist_ok=True)
    same_device = source.stat().st_dev == destination.parent.stat().st_dev
    subprocess.run(["cp", "-al" if same_device else "-a", str(source), str(destination)], check=True)
    for database in BOLT_DATABASES:
        copy = ["cp", "--remove-destination", str(source / database), str(destination / database)]
        subprocess.run(copy, check=True)
