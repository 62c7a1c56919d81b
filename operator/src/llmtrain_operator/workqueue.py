"""A de-duplicating, rate-limited queue of work keys, with client-go's workqueue semantics.

A key is handed to one worker at a time. Added while it waits, it waits once; added while a
worker holds it, it is queued again when that worker calls `done`, so the worker's next
pass sees every change made meanwhile. Failures back off per key, exponentially, until the
key is `forget`-ten. Everything runs on one event loop: no locks.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

BASE_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 60.0


class WorkQueue(Generic[K]):
    """Keys to work on; `get` waits for one, `done` hands it back."""

    def __init__(self, base_retry: float = BASE_RETRY_SECONDS, max_retry: float = MAX_RETRY_SECONDS) -> None:
        self.base_retry = base_retry
        self.max_retry = max_retry
        self._ready: deque[K] = deque()
        self._dirty: set[K] = set()
        """Keys added and not yet handed out: waiting in `_ready`, or held by a worker."""
        self._processing: set[K] = set()
        self._timers: dict[K, tuple[float, asyncio.TimerHandle]] = {}
        self._failures: dict[K, int] = {}
        self._waiters: deque[asyncio.Future[None]] = deque()

    def __len__(self) -> int:
        """Keys waiting for a worker (not those held, nor those waiting on a timer)."""
        return len(self._ready)

    def add(self, key: K) -> None:
        """Queue `key` now, unless it is queued already."""
        self._cancel_timer(key)
        if key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._ready.append(key)
            self._wake_one()

    def add_after(self, key: K, delay: float) -> None:
        """Queue `key` in `delay` seconds: changes arriving meanwhile are handled in one pass.

        A key already queued (or held and added again), or due sooner, is left as it is."""
        if delay <= 0:
            self.add(key)
            return
        if key in self._dirty:
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        timer = self._timers.get(key)
        if timer is not None:
            if timer[0] <= due:
                return
            timer[1].cancel()
        self._timers[key] = (due, loop.call_at(due, self._fire, key))

    def add_rate_limited(self, key: K) -> float:
        """Queue `key` after its failure backoff (doubling per failure); returns the delay."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = min(self.base_retry * 2.0**failures, self.max_retry)
        self.add_after(key, delay)
        return delay

    def backing_off(self, key: K) -> bool:
        """Whether `key` failed and waits out its backoff: a periodic re-check leaves it to the timer."""
        return key in self._failures and key in self._timers

    def forget(self, key: K) -> None:
        """The key succeeded: its next failure backs off from the start."""
        self._failures.pop(key, None)

    def discard(self, key: K) -> None:
        """Drop everything kept for a key whose object is gone (a held key is not requeued)."""
        self.forget(key)
        self._cancel_timer(key)
        if key in self._dirty and key not in self._processing:
            self._ready.remove(key)
        self._dirty.discard(key)

    async def get(self) -> K:
        """The next key; the caller holds it until `done`."""
        while not self._ready:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and self._ready:
                    self._wake_one()
                raise
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        key = self._ready.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        """The worker has finished with `key`; queue it again if it was added meanwhile."""
        self._processing.discard(key)
        if key in self._dirty:
            self._ready.append(key)
            self._wake_one()

    def close(self) -> None:
        """Cancel every timer (at shutdown)."""
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def _cancel_timer(self, key: K) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer[1].cancel()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
