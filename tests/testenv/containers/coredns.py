"""Cluster DNS: CoreDNS, built from its Go module, as a process in the cluster's namespace.

It serves `cluster.local` from the API (Services, and the per-pod names of headless Services
that torchrun's rendezvous resolves) and nothing else: the namespace has no way out.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from testenv import procs
from testenv.netns import NetworkNamespace
from testenv.paths import binary

HEALTH_PORT = 8053


class CoreDNS:
    """CoreDNS listening on `address`:53, reading the cluster through `kubeconfig`."""

    def __init__(self, directory: Path, netns: NetworkNamespace, *, address: str, kubeconfig: Path) -> None:
        self.directory = directory
        self.address = address
        self.log = directory / "coredns.log"
        self._netns = netns
        self._kubeconfig = kubeconfig
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        corefile = self.directory / "Corefile"
        # A short cache: a restarted gang's new pod addresses must resolve within seconds.
        corefile.write_text(
            f""".:53 {{
    bind {self.address}
    errors
    health {self.address}:{HEALTH_PORT}
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {self._kubeconfig} testenv
        pods insecure
        ttl 2
    }}
    cache 2
}}
"""
        )
        self._proc = procs.spawn([binary("coredns"), "-conf", str(corefile)], self.log, netns=self._netns)

    @property
    def health_url(self) -> str:
        return f"http://{self.address}:{HEALTH_PORT}/health"

    def stop(self) -> None:
        if self._proc is not None:
            procs.stop(self._proc)
