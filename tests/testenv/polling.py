"""The one polling loop of the tests and the test environment: `eventually`. The other
waits (testing.eventually, netutil.wait_until, job_helpers.wait_for_status) are this one."""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
def eventually(
    check: Callable[[], T | None],
    timeout: float = 30,
    interval: float = 0.2,
    *,
    what: str | None = None,
    error: type[Exception] = AssertionError,
) -> T: ...


@overload
def eventually(
    check: Callable[[], T],
    timeout: float = 30,
    interval: float = 0.2,
    *,
    until: Callable[[T], object],
    what: str | None = None,
    error: type[Exception] = AssertionError,
) -> T: ...


def eventually(
    check: Callable[[], Any],
    timeout: float = 30,
    interval: float = 0.2,
    *,
    until: Callable[[Any], object] = bool,
    what: str | None = None,
    error: type[Exception] = AssertionError,
) -> Any:
    """The first value of `check` that `until` accepts (by default, the first truthy one),
    calling it every `interval` seconds for up to `timeout` seconds; then `error`, saying
    what was awaited (`what`, else the check's source) and the last value seen. What `check`
    raises goes through."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if until(value):
            return value
        if time.monotonic() > deadline:
            message = f"timed out after {timeout:g}s waiting for {what or _describe(check)}"
            if value is not None and not isinstance(value, bool):
                message += f"; last value seen: {_show(value)}"
            raise error(message)
        time.sleep(interval)


def _describe(check: Callable[[], Any]) -> str:
    """A lambda's line of source, else the function's name."""
    name = getattr(check, "__qualname__", repr(check))
    if name.endswith("<lambda>"):
        try:
            return " ".join(line.strip() for line in inspect.getsource(check).splitlines())
        except (OSError, TypeError):
            pass
    return f"{name}()"


def _show(value: object) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, indent=1, default=str)
    return repr(value)
