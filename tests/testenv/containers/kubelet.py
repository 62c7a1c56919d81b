"""One node's kubelet, the real one, on the node's containerd.

Settings that differ from a production node, and why: cgroup v1 with the cgroupfs driver
(this machine has no cgroup v2 and no systemd), a `cgroupRoot` of its own so that two nodes on
one machine never share pod cgroups, no swap check, eviction thresholds low enough that a
busy development disk does not evict the tests' pods, and the API server's client CA as the
only way to call the kubelet's API.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from testenv import procs
from testenv.containers.containerd import Containerd
from testenv.kubeconfig import write_kubeconfig
from testenv.netns import NetworkNamespace
from testenv.paths import binary
from testenv.pki import CertificateAuthority

KUBELET_PORT = 10250


class Kubelet:
    """The kubelet of node `name` at `address`, in the mount namespace of its containerd."""

    def __init__(
        self,
        name: str,
        address: str,
        directory: Path,
        netns: NetworkNamespace,
        containerd: Containerd,
        *,
        server: str,
        ca: CertificateAuthority,
        cgroup_root: str,
        cluster_dns: str,
        healthz_port: int,
        labels: dict[str, str],
    ) -> None:
        self.name = name
        self.address = address
        self.directory = directory
        self.log = directory / "kubelet.log"
        self._netns = netns
        self._containerd = containerd
        self._server = server
        self._ca = ca
        self._cgroup_root = cgroup_root
        self._cluster_dns = cluster_dns
        self._healthz_port = healthz_port
        self._labels = labels
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the kubelet; it registers its Node itself (wait for Ready with the API)."""
        d = self.directory
        client = self._ca.issue(
            f"kubelet-{self.name}", common_name=f"system:node:{self.name}", organization="system:nodes"
        )
        serving = self._ca.issue(f"kubelet-serving-{self.name}", common_name=self.name, ips=(self.address,))
        kubeconfig = write_kubeconfig(
            d / "kubelet.kubeconfig", server=self._server, ca=self._ca.ca.cert, user=self.name, client=client
        )
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": self._cgroup_root,
            "containerRuntimeEndpoint": f"unix://{self._containerd.socket}",
            "address": self.address,
            "port": KUBELET_PORT,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": self._healthz_port,
            "tlsCertFile": str(serving.cert),
            "tlsPrivateKeyFile": str(serving.key),
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": False},
                "x509": {"clientCAFile": str(self._ca.ca.cert)},
            },
            "authorization": {"mode": "AlwaysAllow"},
            "clusterDomain": "cluster.local",
            "clusterDNS": [self._cluster_dns],
            # Pods resolve through CoreDNS only: the host's resolver is outside the namespace.
            "resolvConf": "",
            "podLogsDir": str(d / "pod-logs"),
            "failSwapOn": False,
            "imageGCHighThresholdPercent": 100,
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "serializeImagePulls": False,
            "syncFrequency": "10s",
            "nodeStatusReportFrequency": "10s",
            "rotateCertificates": False,
            "serverTLSBootstrap": False,
            "localStorageCapacityIsolation": False,
        }
        config_path = d / "kubelet-config.yaml"
        config_path.write_text(yaml.safe_dump(config))
        labels = ",".join(f"{k}={v}" for k, v in self._labels.items())
        self._proc = procs.spawn(
            [
                "nsenter", f"--mount=/proc/{self._containerd.pid}/ns/mnt", "--",
                binary("kubelet"),
                f"--config={config_path}",
                f"--kubeconfig={kubeconfig}",
                f"--root-dir={d / 'kubelet'}",
                f"--hostname-override={self.name}",
                f"--node-ip={self.address}",
                *([f"--node-labels={labels}"] if labels else []),
                "--v=1",
            ],
            self.log,
            netns=self._netns,
        )  # fmt: skip

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        if self._proc is not None:
            procs.stop(self._proc)
