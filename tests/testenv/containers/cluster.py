"""A Kubernetes cluster with real nodes on this machine: the control plane, CoreDNS and
kube-proxy as processes, and nodes that are each a real kubelet on its own containerd, runc
and bridge, all inside one network namespace made for the cluster.

    with ContainerCluster(ContainerClusterSettings(images=build_images())) as cluster:
        cluster.kubectl("get", "nodes")

Addresses (all inside the namespace, so two clusters never collide): the control plane on
10.200.0.1, CoreDNS on 10.200.0.53, node i on 10.200.0.(10+i) with pods from 10.201.i.0/24,
Services from 10.202.0.0/24. PersistentVolumeClaims of the default StorageClass get hostPath
volumes under the cluster's directory (both nodes are this machine, so any node can mount
them), made writable by any user as local-path provisioners do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from testenv.agent.provisioner import Provisioner, install_storage_class
from testenv.containers import cgroups, imagestore
from testenv.containers.containerd import Containerd, PodNetwork
from testenv.containers.coredns import CoreDNS
from testenv.containers.kubelet import Kubelet
from testenv.containers.kubeproxy import KubeProxy
from testenv.controlplane import ControlPlane, ControlPlaneSettings
from testenv.images import PAUSE_REF, ImageArchive
from testenv.kubeapi import KubeAPI
from testenv.kubeconfig import write_kubeconfig
from testenv.netns import NetworkNamespace
from testenv.netutil import wait_until

CONTROL_PLANE_ADDRESS = "10.200.0.1"
DNS_ADDRESS = "10.200.0.53"
SERVICE_RANGE = "10.202.0.0/24"
POD_RANGE = "10.201.0.0/16"
# What a real node needs from the host, and the make target that installs it.
REQUIRED_COMMANDS = ("containerd", "ctr", "runc", "iptables", "conntrack", "socat", "nsenter", "unshare", "ip")


class RealNodesUnavailable(RuntimeError):
    """This machine cannot run real nodes (not root, or a missing program)."""


def check_host() -> None:
    """Raise `RealNodesUnavailable` naming what is missing and how to get it."""
    if os.geteuid() != 0:
        raise RealNodesUnavailable("real nodes need root (network namespaces, cgroups, containerd)")
    missing = [c for c in REQUIRED_COMMANDS if shutil.which(c) is None]
    if missing:
        raise RealNodesUnavailable(f"real nodes need {', '.join(missing)}: run `make node-packages`")
    if not (cgroups.CGROUP_FS / "memory").is_dir():
        raise RealNodesUnavailable("real nodes need the cgroup v1 memory controller at /sys/fs/cgroup/memory")


@dataclass
class ContainerClusterSettings:
    """What `ContainerCluster.start` runs.

    images: the archives every node imports before it registers (pods never pull).
    nodes: how many nodes (`node-0`, ...).
    workdir: state, logs and volumes; a fresh temporary directory (removed by `stop`) when None.
    node_labels: labels of every node.
    die_with_parent: stop every process when the one that started them dies.
    """

    images: dict[str, ImageArchive]
    nodes: int = 2
    workdir: Path | None = None
    node_labels: dict[str, str] = field(default_factory=dict)
    die_with_parent: bool = True


@dataclass
class RealNode:
    """One node: its name, address, containerd and kubelet."""

    name: str
    address: str
    containerd: Containerd
    kubelet: Kubelet
    cgroup_name: str


class ContainerCluster:
    """Starts everything in order with `start`, tears everything down with `stop`."""

    def __init__(self, settings: ContainerClusterSettings) -> None:
        self.settings = settings
        self._owns_workdir = settings.workdir is None
        self.workdir = settings.workdir or Path(tempfile.mkdtemp(prefix="realnodes-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.netns: NetworkNamespace | None = None
        self.control_plane: ControlPlane | None = None
        self.nodes: list[RealNode] = []
        self.startup_seconds = 0.0
        self._dns: CoreDNS | None = None
        self._proxy: KubeProxy | None = None
        self._stop_provisioner = threading.Event()

    @property
    def cp(self) -> ControlPlane:
        assert self.control_plane is not None, "the cluster is not started"
        return self.control_plane

    @property
    def kubeconfig_path(self) -> Path:
        """The admin kubeconfig for clients on this machine."""
        return self.cp.kubeconfig_path

    def kubectl(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return self.cp.kubectl(*args, **kwargs)  # type: ignore[arg-type]

    def start(self) -> ContainerCluster:
        began = time.monotonic()
        check_host()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _start(self) -> None:
        s = self.settings
        self.netns = netns = NetworkNamespace()
        for address in (CONTROL_PLANE_ADDRESS, DNS_ADDRESS, *(_node_address(i) for i in range(s.nodes))):
            netns.add_address(address)
        self.control_plane = cp = ControlPlane(
            ControlPlaneSettings(
                workdir=self.workdir / "control-plane",
                host=CONTROL_PLANE_ADDRESS,
                netns=netns,
                service_cluster_ip_range=SERVICE_RANGE,
                die_with_parent=s.die_with_parent,
            )
        ).start()
        inner_admin = write_kubeconfig(
            self.workdir / "admin-inside.kubeconfig",
            server=cp.inner_server, ca=cp.ca.ca.cert, user="admin", client=cp.admin,
        )  # fmt: skip
        self._dns = CoreDNS(self.workdir / "coredns", netns, address=DNS_ADDRESS, kubeconfig=inner_admin)
        self._dns.start()
        self._proxy = KubeProxy(
            self.workdir / "kube-proxy", netns, server=cp.inner_server, ca=cp.ca, node=_node_name(0), pod_cidr=POD_RANGE
        )
        self._proxy.start()

        for i in range(s.nodes):
            name = _node_name(i)
            directory = self.workdir / name
            directory.mkdir(parents=True, exist_ok=True)
            network = PodNetwork(bridge=f"cni{i}", subnet=f"10.201.{i}.0/24", gateway=f"10.201.{i}.1")
            containerd = Containerd(directory, netns, PAUSE_REF, network)
            cgroup_name = f"{netns.name}-{name}"
            kubelet = Kubelet(
                name, _node_address(i), directory, netns, containerd,
                server=cp.inner_server, ca=cp.ca, cgroup_root=cgroups.create_root(cgroup_name),
                cluster_dns=DNS_ADDRESS, healthz_port=10248 + i, labels=s.node_labels,
            )  # fmt: skip
            self.nodes.append(RealNode(name, _node_address(i), containerd, kubelet, cgroup_name))
        imagestore.load_or_import([node.containerd for node in self.nodes], s.images)
        for node in self.nodes:
            node.containerd.start()
            node.kubelet.start()
        wait_until(self._nodes_ready, 180, "every node Ready", interval=1)

        api = KubeAPI(cp.kubeconfig_path)
        install_storage_class(api)
        Provisioner(api, self.workdir / "volumes", self._stop_provisioner, world_writable=True).start()

    def _nodes_ready(self) -> bool:
        for node in self.nodes:
            if not node.kubelet.running():
                raise RuntimeError(f"the kubelet of {node.name} exited; see {node.kubelet.log}")
        ready = "jsonpath={range .items[*]}{.status.conditions[?(@.type=='Ready')].status}{'\\n'}{end}"
        listed = self.cp.kubectl("get", "nodes", "-o", ready, check=False)
        return listed.returncode == 0 and listed.stdout.split() == ["True"] * len(self.nodes)

    def stop(self) -> None:
        """Stop everything, newest first; also after a failed start, and whatever is left running."""
        self._stop_provisioner.set()
        for node in reversed(self.nodes):
            node.kubelet.stop()
            node.containerd.stop()
        if self.netns is not None:
            # containerd's shims live in the namespace; the containers die with their cgroups.
            self.netns.kill_all()
        for node in self.nodes:
            cgroups.remove_root(node.cgroup_name)
        for component in (self._proxy, self._dns, self.control_plane):
            if component is not None:
                component.stop()
        if self.netns is not None:
            self.netns.delete()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ContainerCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _node_name(index: int) -> str:
    return f"node-{index}"


def _node_address(index: int) -> str:
    return f"10.200.0.{10 + index}"
