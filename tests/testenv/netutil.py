"""Loopback ports and readiness polling."""

from __future__ import annotations

import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable

from testenv.polling import eventually


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def http_ok(url: str, context: ssl.SSLContext | None = None, timeout: float = 2) -> bool:
    """Whether `url` answers with a 2xx status now (False when nothing listens yet)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll `check` until it returns true; TimeoutError naming `what` after `timeout` s."""
    eventually(check, timeout, interval, what=what, error=TimeoutError)
