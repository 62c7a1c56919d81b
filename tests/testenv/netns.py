"""A network namespace of its own for a cluster with real nodes, and the one door into it.

Everything of such a cluster (control plane, containerd, kubelets, kube-proxy, CoreDNS, the
pods' bridges) runs inside the namespace, so its private addresses, iptables rules, bridges and
`ip_forward` never touch the host's network. Processes enter it with `setns(2)` between fork
and exec (network only: they keep the host's mount namespace, so the kubelet's volume mounts
are the ones containerd sees). The host reaches the API server through a relay: a socat on
loopback in the host forwards over a Unix socket to a socat inside the namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from testenv import procs

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")
# Why a link of its own: the kubelet refuses loopback node addresses and the API server's
# endpoint reconciler refuses loopback advertise addresses, so every host-process address of
# the cluster lives on this link. It is a bridge without ports because the `dummy` driver is
# not always in the kernel; local addresses need no carrier.
HOST_LINK = "cluster0"

_libc = ctypes.CDLL(None, use_errno=True)


class NetworkNamespace:
    """`ip netns add` of a uniquely named namespace, with loopback up and forwarding on."""

    def __init__(self, prefix: str = "llmtrain") -> None:
        self.name = f"{prefix}-{secrets.token_hex(3)}"
        self.path = NETNS_DIR / self.name
        self._ip("netns", "add", self.name)
        self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        self._sockets: list[Path] = []
        try:
            self._ip("-n", self.name, "link", "set", "lo", "up")
            self._ip("-n", self.name, "link", "add", HOST_LINK, "type", "bridge")
            self._ip("-n", self.name, "link", "set", HOST_LINK, "up")
            self.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
            # Service traffic between two pods of one bridge must pass through iptables for
            # kube-proxy's DNAT to be undone on the way back.
            self.run("sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1")
        except BaseException:
            self.delete()
            raise

    def add_address(self, address: str) -> None:
        """Give the namespace's host processes one more address (a /32 on its host link)."""
        self._ip("-n", self.name, "addr", "add", f"{address}/32", "dev", HOST_LINK)

    def enter(self) -> Callable[[], None]:
        """A `preexec_fn` that moves the child into this namespace before it execs."""
        fd = self._fd

        def setns() -> None:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                os._exit(126)

        return setns

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a short command inside the namespace and wait for it."""
        result = subprocess.run(argv, capture_output=True, text=True, preexec_fn=self.enter())
        if check and result.returncode != 0:
            raise subprocess.CalledProcessError(result.returncode, argv, result.stdout, result.stderr)
        return result

    def relay(self, target: str, local_port: int, log: Path) -> list[subprocess.Popen[bytes]]:
        """Forward `127.0.0.1:local_port` in the host to `target` ("address:port") inside."""
        # Short and unique: a Unix socket path has at most 107 bytes.
        socket_path = Path(tempfile.gettempdir()) / f"{self.name}-{local_port}.sock"
        self._sockets.append(socket_path)
        inner = procs.spawn(["socat", f"UNIX-LISTEN:{socket_path},fork,mode=600", f"TCP:{target}"], log, netns=self)
        outer = procs.spawn(
            ["socat", f"TCP-LISTEN:{local_port},bind=127.0.0.1,fork,reuseaddr", f"UNIX-CONNECT:{socket_path}"], log
        )
        return [inner, outer]

    def kill_all(self) -> None:
        """SIGKILL every process still inside (only ones this namespace's owner started)."""
        listed = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True)
        for pid in listed.stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)

    def delete(self) -> None:
        """Kill anything still inside, then remove the namespace (its links, routes and rules go with it)."""
        self.kill_all()
        with contextlib.suppress(OSError):
            os.close(self._fd)
        for socket_path in self._sockets:
            socket_path.unlink(missing_ok=True)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)

    @staticmethod
    def _ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, text=True)
