"""Starts one container process: `python -m testenv.agent.podexec SPEC.json`.

In a private mount namespace it bind-mounts the pod's volumes at their mount paths, changes
to the working directory and execs the container's command, so the process keeps this
process's pid (and its process group, which the agent signals). It runs with `python -I`
and imports only the standard library. Without the privilege for
a mount namespace it tries a user namespace too (unprivileged users on most distributions).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _enter_mount_namespace() -> None:
    if _libc.unshare(CLONE_NEWNS) == 0:
        return
    uid, gid = os.getuid(), os.getgid()
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare")
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
    Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")


def _mount(source: str, target: str, read_only: bool) -> None:
    _make_target(source, target)
    _check(_libc.mount(source.encode(), target.encode(), None, MS_BIND | MS_REC, None), f"mount {target}")
    if read_only:
        flags = MS_BIND | MS_REMOUNT | MS_RDONLY
        _check(_libc.mount(None, target.encode(), None, flags, None), f"remount {target} read-only")


def _make_target(source: str, target: str) -> None:
    """Create a target that an earlier mount of this container covers, as runc does.

    The agent creates missing targets on the host, but one inside another mount (a
    termination message file in an emptyDir, say) is missing here: it is made in that
    volume, a file for a file and a directory otherwise.
    """
    if os.path.lexists(target):
        return
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        Path(target).touch()


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    # The container dies with the agent thread that started it; set here rather than
    # between fork and exec, where the agent's other threads may hold locks.
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL), "prctl")
    if os.getppid() != spec["agent_pid"]:
        sys.exit(137)
    try:
        if spec["mounts"]:
            _enter_mount_namespace()
            # Mounts made here must not propagate back to the host.
            _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
            for source, target, read_only in spec["mounts"]:
                _mount(source, target, read_only)
        os.chdir(spec["cwd"])
    except OSError as e:
        print(f"testenv: cannot set up the container: {e}", file=sys.stderr, flush=True)
        sys.exit(128)
    argv = spec["argv"]
    try:
        os.execvpe(argv[0], argv, os.environ)
    except OSError as e:
        print(f"testenv: exec {argv[0]!r}: {e.strerror}", file=sys.stderr, flush=True)
        sys.exit(127)


if __name__ == "__main__":
    main()
