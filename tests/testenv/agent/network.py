"""Pod addresses on loopback and the hosts file that gives pods their cluster DNS names."""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading
from pathlib import Path

LOCK_DIR = Path(tempfile.gettempdir()) / "testenv-locks"


class AddressPool:
    """Hands out <prefix>.x.y loopback addresses (x, y in 1..254), each to one pod at a time.

    Every address in use is flock()ed under LOCK_DIR, so node agents of concurrent test
    sessions on one machine never give two pods the same address (a lock dies with its
    holder, so a crashed agent leaks nothing).
    """

    def __init__(self, prefix: str) -> None:
        self._candidates = [f"{prefix}.{x}.{y}" for x in range(1, 255) for y in range(1, 255)]
        self._held: dict[str, int] = {}
        self._next = 0
        self._lock = threading.Lock()
        LOCK_DIR.mkdir(exist_ok=True)

    def take(self) -> str:
        with self._lock:
            for _ in range(len(self._candidates)):
                address = self._candidates[self._next]
                self._next = (self._next + 1) % len(self._candidates)
                if address in self._held:
                    continue
                fd = os.open(LOCK_DIR / f"ip-{address}", os.O_CREAT | os.O_RDWR, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                self._held[address] = fd
                return address
        raise RuntimeError("no free pod address left")

    def give_back(self, address: str) -> None:
        with self._lock:
            os.close(self._held.pop(address))


class HostsFile:
    """The DNS records of running pods, in the file the podnet shim reads on each lookup.

    A pod with `hostname` and `subdomain` gets `<hostname>.<subdomain>.<ns>.svc` and
    `<hostname>.<subdomain>.<ns>.svc.cluster.local`, as cluster DNS gives pods behind a
    headless Service. The file is replaced atomically, so readers never see half of it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._records: dict[str, tuple[str, list[str]]] = {}
        self._lock = threading.Lock()
        self._write()

    def add(self, key: str, address: str, names: list[str]) -> None:
        with self._lock:
            self._records[key] = (address, names)
            self._write()

    def remove(self, key: str) -> None:
        with self._lock:
            if self._records.pop(key, None) is not None:
                self._write()

    def _write(self) -> None:
        lines = [f"{address} {' '.join(names)}\n" for address, names in self._records.values() if names]
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(lines))
        os.replace(tmp, self.path)


def pod_dns_names(pod: dict[str, object]) -> list[str]:
    """The cluster DNS names of a pod (none without both hostname and subdomain)."""
    spec = pod["spec"]
    meta = pod["metadata"]
    assert isinstance(spec, dict) and isinstance(meta, dict)
    hostname, subdomain = spec.get("hostname"), spec.get("subdomain")
    if not hostname or not subdomain:
        return []
    base = f"{hostname}.{subdomain}.{meta['namespace']}.svc"
    return [base, f"{base}.cluster.local"]
