"""Cluster DNS: CoreDNS, built from its Go module, as a process in the cluster's namespace.

It serves `cluster.local` from the API (Services, and the per-pod names of headless Services
that torchrun's rendezvous resolves) and nothing else: the namespace has no way out.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from testenv import procs
from testenv.netns import NetworkNamespace
from testenv.netutil import wait_until
from testenv.paths import binary

READY_PORT = 8181


class CoreDNS:
    """CoreDNS on port 53 of the namespace (pods use `address`), reading the cluster through
    `kubeconfig`."""

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
        # `ready` answers once the kubernetes plugin has synced: before that, cluster names fail.
        # A short cache: a restarted gang's new pod addresses must resolve within seconds.
        corefile.write_text(
            f""".:53 {{
    errors
    ready {self.address}:{READY_PORT}
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
        wait_until(self._ready, 60, "CoreDNS /ready", interval=0.2)

    def _ready(self) -> bool:
        if self._proc is not None and self._proc.poll() is not None:
            raise RuntimeError(f"CoreDNS exited with {self._proc.returncode}:\n{procs.tail(self.log)}")
        probe = self._netns.run("curl", "-sf", "-o", "/dev/null", "--max-time", "2", self.ready_url, check=False)
        return probe.returncode == 0

    @property
    def ready_url(self) -> str:
        return f"http://{self.address}:{READY_PORT}/ready"

    def stop(self) -> None:
        if self._proc is not None:
            procs.stop(self._proc)
