"""Expectations: the pods this operator just created or deleted, until the watch shows them.

The pod index lags the API server. A pass that ran before the watch delivered a pod it had
created would create it again (answered 409) or take it for lost; so a job is not
reconciled while any of its expectations is open. Each is recorded before its request is
sent, so the watch cannot answer it first, and it lapses after `EXPECTATION_TIMEOUT_SECONDS`
in case the answer never comes (a watch that restarted and missed a pod created and deleted
meanwhile). Worker threads record them and the event loop observes them: hence the lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

K = TypeVar("K", bound=Hashable)
Change = Literal["create", "delete"]

EXPECTATION_TIMEOUT_SECONDS = 60.0
"""controller-runtime waits 5 minutes; a pod that never shows up is rarer than a stalled job is costly."""


@dataclass
class _Open:
    changes: dict[str, Change] = field(default_factory=dict)
    deadline: float = 0.0


class Expectations(Generic[K]):
    """Open expectations by job key; `clock` is monotonic seconds."""

    def __init__(
        self, timeout: float = EXPECTATION_TIMEOUT_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.timeout = timeout
        self.clock = clock
        self._open: dict[K, _Open] = {}
        self._lock = threading.Lock()

    def expect(self, key: K, change: Change, pod_names: Iterable[str]) -> None:
        """Record pods about to be created or deleted."""
        with self._lock:
            entry = self._open.setdefault(key, _Open())
            entry.changes.update((name, change) for name in pod_names)
            entry.deadline = self.clock() + self.timeout

    def cancel(self, key: K, pod_name: str) -> None:
        """The request failed or changed nothing (a pod already gone): expect nothing of it."""
        self._drop(key, pod_name, lambda _: True)

    def observe(self, key: K, pod_name: str, gone: bool) -> None:
        """The watch showed the pod: present (a creation is seen), or deleting or gone (a deletion is)."""
        self._drop(key, pod_name, lambda change: change == "create" or gone)

    def _drop(self, key: K, pod_name: str, satisfied: Callable[[Change], bool]) -> None:
        with self._lock:
            entry = self._open.get(key)
            if entry is None or pod_name not in entry.changes:
                return
            if satisfied(entry.changes[pod_name]):
                del entry.changes[pod_name]
                if not entry.changes:
                    del self._open[key]

    def pending(self, key: K) -> float:
        """Seconds until the job's open expectations lapse; 0 when none are open."""
        with self._lock:
            entry = self._open.get(key)
            if entry is None:
                return 0.0
            left = entry.deadline - self.clock()
            if left <= 0:
                del self._open[key]
                return 0.0
            return left

    def forget(self, key: K) -> None:
        """The job is gone."""
        with self._lock:
            self._open.pop(key, None)
