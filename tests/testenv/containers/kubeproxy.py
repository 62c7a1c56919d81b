"""kube-proxy in iptables mode: one for the whole cluster, since every node shares the
cluster's network namespace and so its iptables."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from testenv import procs
from testenv.kubeconfig import write_kubeconfig
from testenv.netns import NetworkNamespace
from testenv.paths import binary
from testenv.pki import CertificateAuthority


class KubeProxy:
    """Programs the Services' ClusterIPs into the namespace's iptables."""

    def __init__(
        self,
        directory: Path,
        netns: NetworkNamespace,
        *,
        server: str,
        ca: CertificateAuthority,
        node: str,
        pod_cidr: str,
    ) -> None:
        self.directory = directory
        self.log = directory / "kube-proxy.log"
        self._netns = netns
        self._server = server
        self._ca = ca
        self._node = node
        self._pod_cidr = pod_cidr
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        d = self.directory
        d.mkdir(parents=True, exist_ok=True)
        # The built-in ClusterRoleBinding system:node-proxier grants this user what it needs.
        client = self._ca.issue("kube-proxy", common_name="system:kube-proxy")
        kubeconfig = write_kubeconfig(
            d / "kube-proxy.kubeconfig", server=self._server, ca=self._ca.ca.cert, user="kube-proxy", client=client
        )
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "mode": "iptables",
            "clientConnection": {"kubeconfig": str(kubeconfig)},
            "hostnameOverride": self._node,
            "clusterCIDR": self._pod_cidr,
            "healthzBindAddress": "127.0.0.1:10256",
            "metricsBindAddress": "127.0.0.1:10249",
            # Replies of a pod to a Service's client on the same bridge must come back through
            # the DNAT: masquerade every Service connection.
            "iptables": {"masqueradeAll": True},
            # Zero leaves the conntrack sysctls alone; some are not writable in a namespace.
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        }
        config_path = d / "kube-proxy-config.yaml"
        config_path.write_text(yaml.safe_dump(config))
        argv = [binary("kube-proxy"), f"--config={config_path}", "--v=1"]
        self._proc = procs.spawn(argv, self.log, netns=self._netns)

    def stop(self) -> None:
        if self._proc is not None:
            procs.stop(self._proc)
