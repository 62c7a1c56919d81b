"""A container's termination message, by the kubelet's rules.

The kubelet (pkg/kubelet/kuberuntime/kuberuntime_container.go, Kubernetes v1.37.2) gives
each run of a container a fresh empty file, mode 0666, under the pod's directory
(`containers/<name>/<random>`), bind-mounted at the container's `terminationMessagePath`
(default /dev/termination-log). When the run has exited, `state.terminated.message` is the
end of that file (at most 4096 bytes). Only with `terminationMessagePolicy:
FallbackToLogsOnError`, a non-zero exit code and an empty (or missing) file is it the end of
the container's log instead: the last 80 lines, of those the last 2048 bytes. Policy `File`,
the default, never reads the log. Before the status is sent, each message is cut to 12 KiB
divided by the number of the pod's containers (pkg/kubelet/status, normalizeStatus).
"""

from __future__ import annotations

import codecs
import os
import secrets
from pathlib import Path

from testenv.kubeapi import Obj

DEFAULT_PATH = "/dev/termination-log"
FALLBACK_TO_LOGS = "FallbackToLogsOnError"
# The kubelet's limits (pkg/kubelet/container/runtime.go).
MAX_POD_MESSAGE_BYTES = 1024 * 12
MAX_MESSAGE_BYTES = 1024 * 4
MAX_LOG_BYTES = 1024 * 2
MAX_LOG_LINES = 80
# How much of the log's end to read: more than 80 lines of which only 2048 bytes are kept.
_LOG_WINDOW = 64 * 1024


def _go_replace(error: UnicodeError) -> tuple[str, int]:
    # Go keeps the raw bytes in the string and encoding/json writes each byte that is not
    # valid UTF-8 as one U+FFFD; Python's "replace" would merge a broken sequence into one.
    assert isinstance(error, UnicodeDecodeError)
    return "\ufffd" * (error.end - error.start), error.end


codecs.register_error("testenv-go-replace", _go_replace)


def container_path(container: Obj) -> str:
    """Where the container sees its message file; "" when it has none (nothing is mounted)."""
    path = container.get("terminationMessagePath", DEFAULT_PATH)
    return str(path or "")


def create_file(pod_dir: Path, container_name: str) -> Path:
    """A new empty message file for one run of a container.

    One per run, so a restarted container does not report what its previous run wrote.
    The mode is set after creating, as the kubelet does, so that the umask cannot narrow
    it: a process under another uid (or a user namespace) must be able to write it.
    """
    directory = pod_dir / "containers" / container_name
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{secrets.randbits(32):08x}"
    path.touch(exist_ok=False)
    path.chmod(0o666)
    return path


def per_container_limit(pod_spec: Obj) -> int:
    """The bytes each container's message keeps once the kubelet normalizes the pod status."""
    count = sum(len(pod_spec.get(k) or []) for k in ("containers", "initContainers", "ephemeralContainers"))
    return MAX_POD_MESSAGE_BYTES // count if count else MAX_POD_MESSAGE_BYTES


def message(file: Path | None, policy: str, exit_code: int, log: Path, limit: int = MAX_POD_MESSAGE_BYTES) -> str:
    """`state.terminated.message` of a container run that exited with `exit_code`."""
    fallback = policy == FALLBACK_TO_LOGS and exit_code != 0
    data, check_logs = _from_file(file, fallback)
    if check_logs:
        data = _from_log(log)
    # Cut as bytes, then decoded: the kubelet slices the Go string, the JSON encoding replaces.
    return data[:limit].decode("utf-8", errors="testenv-go-replace")


def _from_file(file: Path | None, fallback: bool) -> tuple[bytes, bool]:
    """The file's last MAX_MESSAGE_BYTES, and whether to read the log instead (getTerminationMessage)."""
    if file is None:
        return b"", fallback
    try:
        data = _read_end(file, MAX_MESSAGE_BYTES)
    except FileNotFoundError:
        return b"", fallback
    except OSError as e:
        # The kubelet reports the error as the message and does not fall back.
        return f"Error on reading termination log {file}: {e}".encode(), False
    return data, fallback and not data


def _from_log(log: Path) -> bytes:
    """The last MAX_LOG_LINES lines, of those the last MAX_LOG_BYTES (readLastStringFromContainerLogs)."""
    try:
        data = _read_end(log, _LOG_WINDOW)
    except OSError as e:
        return f"Error on reading termination message from logs: {e}".encode()
    # The kubelet writes them into a ring buffer of MAX_LOG_BYTES: only the end stays.
    return _last_lines(data, MAX_LOG_LINES)[-MAX_LOG_BYTES:]


def _last_lines(data: bytes, count: int) -> bytes:
    """The last `count` lines of `data`; a last line without its newline counts as one."""
    start = len(data) - 1 if data.endswith(b"\n") else len(data)
    for _ in range(count):
        start = data.rfind(b"\n", 0, start)
        if start < 0:
            return data
    return data[start + 1 :]


def _read_end(path: Path, limit: int) -> bytes:
    """At most the last `limit` bytes of a file (the kubelet's tail.ReadAtMost)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        f.seek(max(0, size - limit))
        return f.read(limit)
