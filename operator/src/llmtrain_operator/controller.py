"""The control loop: watch events mark jobs dirty, a bounded set of workers drains a
de-duplicating queue, and a timer re-checks every job (deadlines, TTLs, progress).

Jobs and pods are read from kopf's indexes, the watch's cache, never fetched per pass. A
status this operator has just written is used until the watch shows it, so a pass never
decides from a job older than the last write. Pod events are batched for a moment, so a
gang whose pods change together is reconciled once. A job whose pods were just created or
deleted waits until the watch shows them (`expectations`), and a failed pass is retried
with a backoff per job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf

from llmtrain_operator.expectations import Expectations
from llmtrain_operator.metrics import OperatorMetrics
from llmtrain_operator.podstate import PodView
from llmtrain_operator.reconciler import JobKey, Reconciler
from llmtrain_operator.settings import OperatorSettings
from llmtrain_operator.workqueue import WorkQueue

logger = logging.getLogger(__name__)
PodIndex = kopf.Index[JobKey, PodView]
JobIndex = kopf.Index[JobKey, dict[str, Any]]
POD_EVENT_BATCH_SECONDS = 0.5
"""How long a pod event waits for the rest of its gang's events before its job is reconciled."""


class Controller:
    """Owns the work queue, its workers and the resync timer."""

    def __init__(
        self,
        reconciler: Reconciler,
        expectations: Expectations[JobKey],
        settings: OperatorSettings,
        metrics: OperatorMetrics,
        jobs: JobIndex,
        pods: PodIndex,
    ) -> None:
        self.reconciler = reconciler
        self.expectations = expectations
        self.settings = settings
        self.metrics = metrics
        self.jobs = jobs
        self.pods = pods
        self.queue: WorkQueue[JobKey] = WorkQueue()
        self._written: dict[JobKey, tuple[str, dict[str, Any]]] = {}
        """Per job: the resourceVersion a status was written over, and the job that write returned."""
        self._scrape_due: set[JobKey] = set()
        self._synced = False
        self._executor = ThreadPoolExecutor(settings.reconcile_workers, thread_name_prefix="reconcile")
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start the workers and the resync timer."""
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self.settings.reconcile_workers)]
        self._tasks.append(asyncio.create_task(self._resync_forever()))

    async def stop(self) -> None:
        """Stop the workers (a pass in flight finishes in its thread) and the timers."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.queue.close()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.reconciler.close()

    def job_changed(self, key: JobKey, deleted: bool) -> None:
        """A job was added, changed or deleted."""
        self._synced = True
        if deleted:
            self._forget(key)
            return
        self.queue.add(key)

    def _forget(self, key: JobKey) -> None:
        self.queue.discard(key)
        self.expectations.forget(key)
        self.reconciler.forget(key)
        self._written.pop(key, None)
        self._scrape_due.discard(key)

    def pod_changed(self, key: JobKey, pod_name: str, gone: bool) -> None:
        """A training pod was added, changed, or deleted (`gone`: deleted or being deleted)."""
        self._synced = True
        self.expectations.observe(key, pod_name, gone)
        self.queue.add_after(key, POD_EVENT_BATCH_SECONDS)

    def _job(self, key: JobKey) -> dict[str, Any] | None:
        bodies = list(self.jobs.get(key, ()))
        if not bodies:
            return None
        # Two only while a job deleted and created again under its name awaits its DELETED event.
        cached = max(bodies, key=lambda body: str(body["metadata"].get("creationTimestamp", "")))
        written = self._written.get(key)
        if written is not None:
            if written[0] == cached["metadata"].get("resourceVersion"):
                return written[1]
            del self._written[key]
        return cached

    async def _work(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                await self._process(key)
            except Exception:
                logger.exception("reconciling %s/%s failed; retrying after a backoff", *key)
                self.metrics.reconcile_errors.inc()
                self.queue.add_rate_limited(key)
            finally:
                self.queue.done(key)
                self.metrics.queue_depth.set(len(self.queue))

    async def _process(self, key: JobKey) -> None:
        body = self._job(key)
        if body is None:
            return
        wait = self.expectations.pending(key)
        if wait > 0:
            # The pod events that close them queue the job again; this is for when none comes.
            self.queue.add_after(key, wait)
            return
        pods = list(self.pods.get(key, ()))
        scrape = key in self._scrape_due
        self._scrape_due.discard(key)
        loop = asyncio.get_running_loop()
        outcome = await loop.run_in_executor(self._executor, self.reconciler.reconcile, key, body, pods, scrape)
        if not list(self.jobs.get(key, ())):
            # Deleted while the pass ran: what the pass kept for it must not outlive it.
            self._forget(key)
            return
        if outcome.written is not None:
            self._written[key] = (body["metadata"].get("resourceVersion", ""), outcome.written)
        if outcome.retry:
            self.queue.add_rate_limited(key)
        else:
            self.queue.forget(key)
        if outcome.requeue_after > 0:
            self.queue.add_after(key, outcome.requeue_after)

    async def _resync_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.scrape_interval_seconds)
            if not self._synced:
                # kopf calls handlers only once its indexes hold the initial listing; before
                # that a pass would see a job without its pods.
                continue
            phases: list[str] = []
            for key in list(self.jobs.keys()):
                body = self._job(key)
                if body is None:
                    continue
                phase = (body.get("status") or {}).get("phase")
                if phase:
                    phases.append(phase)
                self._scrape_due.add(key)
                if not self.queue.backing_off(key):
                    self.queue.add(key)
            self.metrics.count_phases(phases)
            self.metrics.queue_depth.set(len(self.queue))
