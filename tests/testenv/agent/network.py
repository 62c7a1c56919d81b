"""Pod addresses on loopback and the hosts file that gives pods their cluster DNS names."""

from __future__ import annotations

import os
import threading
from pathlib import Path


class AddressPool:
    """Hands out <prefix>.x.y loopback addresses (x, y in 1..254), each to one pod at a time."""

    def __init__(self, prefix: str) -> None:
        self._free = [f"{prefix}.{x}.{y}" for x in range(1, 255) for y in range(1, 255)]
        self._free.reverse()
        self._lock = threading.Lock()

    def take(self) -> str:
        with self._lock:
            return self._free.pop()

    def give_back(self, address: str) -> None:
        with self._lock:
            self._free.append(address)


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
