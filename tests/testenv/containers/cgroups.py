"""The cgroup a node's kubelet puts its pods under, on this machine's cgroup v1 hierarchies.

The kubelet needs its `cgroupRoot` to exist in every v1 controller (and a cpuset cgroup with
CPUs and memory nodes, which a new cpuset cgroup does not inherit). Teardown kills what is
still inside and removes the tree bottom-up, in every hierarchy, the unified one included
(the kubelet mirrors its tree there).
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
from pathlib import Path

from testenv.polling import eventually

CGROUP_FS = Path("/sys/fs/cgroup")


def _hierarchies() -> list[Path]:
    return sorted(p for p in CGROUP_FS.iterdir() if p.is_dir() and not p.is_symlink())


def create_root(name: str) -> str:
    """Create `/<name>` in every hierarchy and return it as the kubelet's `cgroupRoot`."""
    for hierarchy in _hierarchies():
        (hierarchy / name).mkdir(exist_ok=True)
    cpuset = CGROUP_FS / "cpuset"
    if cpuset.is_dir():
        for knob in ("cpuset.cpus", "cpuset.mems"):
            (cpuset / name / knob).write_text((cpuset / knob).read_text())
    return f"/{name}"


def remove_root(name: str, timeout: float = 10.0) -> None:
    """Kill every process left under `/<name>` and remove the tree in every hierarchy."""
    for hierarchy in _hierarchies():
        root = hierarchy / name
        eventually(functools.partial(_removed, root), timeout, what=f"cgroup {root} removed", error=RuntimeError)


def _removed(root: Path) -> bool:
    """One pass: kill what is inside, remove what is empty; whether `root` is gone."""
    if not root.exists():
        return True
    for procs_file in root.rglob("cgroup.procs"):
        for pid in procs_file.read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
    # Deepest first: a cgroup with children cannot be removed.
    for directory in sorted((d for d in root.rglob("*") if d.is_dir()), key=lambda d: -len(d.parts)):
        with contextlib.suppress(OSError):
            directory.rmdir()
    with contextlib.suppress(OSError):
        root.rmdir()
    return not root.exists()
