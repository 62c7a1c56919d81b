"""Starting and stopping the child processes of the test environment.

Every child gets its own process group, so that stopping it also stops whatever it
started, and nothing else is ever signalled.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from testenv.netns import NetworkNamespace

PR_SET_PDEATHSIG = 1
# Looked up once here: between fork and exec a child may only call what needs no locks.
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def _die_with_parent() -> None:
    # Children of a crashed or SIGKILLed test run must not outlive it.
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    argv: Sequence[str | Path],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    die_with_parent: bool = True,
    netns: NetworkNamespace | None = None,
) -> subprocess.Popen[bytes]:
    """Start `argv` in a new session, stdout and stderr appended to `log`; inside `netns`
    when one is given."""
    enter_netns = netns.enter() if netns is not None else None

    def prepare_child() -> None:
        if die_with_parent:
            _die_with_parent()
        if enter_netns is not None:
            enter_netns()

    with open(log, "ab") as out:
        return subprocess.Popen(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            preexec_fn=prepare_child,
        )


def stop(proc: subprocess.Popen[bytes], grace: float = 10.0) -> int:
    """SIGTERM the process group of `proc`, SIGKILL it after `grace` seconds."""
    if proc.poll() is None:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
    # Grandchildren that ignored SIGTERM may still be around in the group.
    _signal_group(proc.pid, signal.SIGKILL)
    return proc.returncode


def processes_with(variables: Mapping[str, str]) -> list[int]:
    """PIDs of every process whose environment sets each of `variables`, wherever it is in
    the process tree (a child that started a session of its own, an orphan), in order."""
    markers = [f"{name}={value}".encode() for name, value in variables.items()]
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if all(marker in environ for marker in markers):
            found.append(int(entry.name))
    return sorted(found)


def process_name(pid: int) -> str | None:
    """What `ps` shows as the command name of `pid` (`/proc/PID/comm`); None once it is gone."""
    try:
        return (Path("/proc") / str(pid) / "comm").read_text().strip()
    except OSError:
        return None


def kill_marked(variable: str, value: str) -> list[int]:
    """SIGKILL every process whose environment sets `variable` to `value`; their PIDs."""
    killed = []
    for pid in processes_with({variable: value}):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    return killed


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def tail(path: Path, lines: int = 60) -> str:
    """The last `lines` lines of a log file ("" when it does not exist)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
