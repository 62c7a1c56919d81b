"""kopf wiring: the pod index, the watch events that trigger reconciles, and the resync
loop that re-checks every job on a timer (deadlines, TTLs, progress) without putting a
finalizer on jobs, so a job can always be deleted, even with the operator gone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf
from kubernetes import client, config
from prometheus_client import start_http_server

from llmtrain.api import names
from llmtrain.api.job import GROUP, PLURAL, VERSION
from llmtrain_operator.kube import KubeApi
from llmtrain_operator.metrics import OperatorMetrics
from llmtrain_operator.podstate import PodView
from llmtrain_operator.reconciler import Reconciler
from llmtrain_operator.settings import OperatorSettings

logger = logging.getLogger(__name__)
POD_SELECTOR: dict[str, Any] = {names.MANAGED_BY: names.OPERATOR_NAME, names.JOB_NAME: kopf.PRESENT}
PodIndex = kopf.Index[tuple[str, str], PodView]
RESYNC_CONCURRENCY = 8
"""Jobs reconciled at once by the resync loop: scraping a slow rank 0 must not stall the rest."""


@dataclass
class Runtime:
    """What every handler and the resync loop share.

    kopf hands each object's handlers a shallow copy of the memo, so state written
    there by one handler would never reach the others; this object is shared by reference.
    """

    settings: OperatorSettings
    metrics: OperatorMetrics
    reconciler: Reconciler
    pods_index: PodIndex | None = None
    resync: asyncio.Task[None] | None = field(default=None, repr=False)


def _load_kube_config() -> client.ApiClient:
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    return client.ApiClient()


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Read settings, start the metrics server and the resync loop."""
    operator_settings = OperatorSettings.from_env()
    # The operator knows its resources; scanning CRDs and namespaces would need RBAC it does not otherwise use.
    settings.scanning.disabled = True
    settings.posting.enabled = False
    settings.execution.max_workers = 32
    metrics = OperatorMetrics()
    start_http_server(operator_settings.metrics_port, registry=metrics.registry)
    runtime = Runtime(operator_settings, metrics, Reconciler(KubeApi(_load_kube_config()), operator_settings, metrics))
    runtime.resync = asyncio.create_task(_resync_forever(runtime))
    memo.runtime = runtime
    logger.info("llmtrain operator started: %s", operator_settings)


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    """Stop the resync loop; kopf stops the watches."""
    runtime: Runtime = memo.runtime
    if runtime.resync is not None:
        runtime.resync.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runtime.resync


@kopf.index("pods", labels=POD_SELECTOR)
def pods_by_job(
    namespace: str | None, labels: Mapping[str, str], body: kopf.Body, **_: Any
) -> dict[tuple[str | None, str], PodView]:
    """Every training pod, by (namespace, job name)."""
    return {(namespace, labels[names.JOB_NAME]): PodView.from_body(body)}


def _pods(index: PodIndex, namespace: str, name: str) -> list[PodView]:
    return list(index.get((namespace, name), ()))


async def _reconcile(runtime: Runtime, namespace: str, name: str, read_metrics: bool) -> str | None:
    index = runtime.pods_index
    pods = _pods(index, namespace, name) if index is not None else []
    phase: str | None = await asyncio.to_thread(runtime.reconciler.reconcile, namespace, name, pods, read_metrics)
    return phase


@kopf.on.event("pods", labels=POD_SELECTOR)
async def pod_changed(namespace: str | None, labels: Mapping[str, str], memo: Any, **kwargs: Any) -> None:
    """A training pod changed: its job may need to act."""
    runtime: Runtime = memo.runtime
    runtime.pods_index = kwargs["pods_by_job"]
    await _reconcile(runtime, namespace or "default", labels[names.JOB_NAME], read_metrics=False)


@kopf.on.event(GROUP, VERSION, PLURAL)
async def job_changed(type: str, namespace: str | None, name: str, memo: Any, **kwargs: Any) -> None:
    """A job was created, changed or deleted."""
    runtime: Runtime = memo.runtime
    runtime.pods_index = kwargs["pods_by_job"]
    if type == "DELETED":
        runtime.reconciler.forget(namespace or "default", name)
        return
    await _reconcile(runtime, namespace or "default", name, read_metrics=False)


async def _resync_forever(runtime: Runtime) -> None:
    settings = runtime.settings
    limit = asyncio.Semaphore(RESYNC_CONCURRENCY)

    async def one(job: dict[str, Any]) -> str | None:
        async with limit:
            metadata = job["metadata"]
            try:
                return await _reconcile(runtime, metadata["namespace"], metadata["name"], read_metrics=True)
            except Exception:
                logger.exception(
                    "reconciling %s/%s failed; retrying on the next resync", metadata["namespace"], metadata["name"]
                )
                return (job.get("status") or {}).get("phase")

    while True:
        await asyncio.sleep(settings.scrape_interval_seconds)
        if runtime.pods_index is None:
            # kopf calls handlers only once its indexes hold the initial listing; until a
            # handler has passed the index on, reconciling would see no pods at all.
            continue
        try:
            jobs = await asyncio.to_thread(runtime.reconciler.kube.list_jobs, settings.namespaces)
        except Exception:
            logger.exception("listing jobs failed; retrying on the next resync")
            continue
        phases = await asyncio.gather(*(one(job) for job in jobs))
        runtime.metrics.count_phases([phase for phase in phases if phase])
