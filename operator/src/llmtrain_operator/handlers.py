"""kopf wiring: the watch caches (indexes) of jobs and pods, and the watch events that mark
jobs dirty for the controller. No finalizer is put on jobs, so a job can always be
deleted, even with the operator gone."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import kopf
from kubernetes import client, config
from prometheus_client import start_http_server

from llmtrain.api import names
from llmtrain.api.job import GROUP, PLURAL, VERSION
from llmtrain_operator.controller import Controller, JobIndex, PodIndex
from llmtrain_operator.expectations import Expectations
from llmtrain_operator.kube import KubeApi
from llmtrain_operator.metrics import OperatorMetrics
from llmtrain_operator.podstate import PodView
from llmtrain_operator.reconciler import JobKey, Reconciler
from llmtrain_operator.scrape import scrape
from llmtrain_operator.settings import OperatorSettings

logger = logging.getLogger(__name__)
POD_SELECTOR: dict[str, Any] = {names.MANAGED_BY: names.OPERATOR_NAME, names.JOB_NAME: kopf.PRESENT}


class NoDiffBase(kopf.DiffBaseStorage):
    """No diff base: kopf diffs every event against the last handled state for on.create and
    on.update handlers, and the operator has none (its watch events only mark jobs dirty).
    Under a burst of pods, kopf's deep copies for that diff cost more CPU than the reconciles."""

    def build(self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def _api_client(settings: OperatorSettings) -> client.ApiClient:
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    configuration = client.Configuration.get_default_copy()
    # Every reconcile worker and pod-creation thread keeps a connection: no handshake per request.
    configuration.connection_pool_maxsize = 2 * settings.reconcile_workers + 4
    return client.ApiClient(configuration)


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **kwargs: Any) -> None:
    """Read settings, start the metrics server and the controller (on the indexes kopf
    hands every handler, filled as the watches list and change)."""
    jobs: JobIndex = kwargs["jobs_by_key"]
    pods: PodIndex = kwargs["pods_by_job"]
    operator_settings = OperatorSettings.from_env()
    # The operator knows its resources; scanning CRDs and namespaces would need RBAC it does not otherwise use.
    settings.scanning.disabled = True
    settings.posting.enabled = False
    settings.persistence.diffbase_storage = NoDiffBase()
    metrics = OperatorMetrics()
    start_http_server(operator_settings.metrics_port, registry=metrics.registry)
    expectations: Expectations[JobKey] = Expectations()
    kube = KubeApi(_api_client(operator_settings))
    reconciler = Reconciler(kube, operator_settings, metrics, expectations, scrape)
    controller = Controller(reconciler, expectations, operator_settings, metrics, jobs, pods)
    controller.start()
    memo.controller = controller
    logger.info("llmtrain operator started: %s", operator_settings)


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    """Stop the controller; kopf stops the watches."""
    controller: Controller = memo.controller
    await controller.stop()


@kopf.index("pods", labels=POD_SELECTOR)
async def pods_by_job(
    namespace: str | None, labels: Mapping[str, str], body: kopf.Body, **_: Any
) -> dict[JobKey, PodView]:
    """Every training pod, by (namespace, job name)."""
    return {(namespace or "default", labels[names.JOB_NAME]): PodView.from_body(body)}


@kopf.index(GROUP, VERSION, PLURAL)
async def jobs_by_key(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[JobKey, dict[str, Any]]:
    """Every job as the watch last showed it, by (namespace, name)."""
    return {(namespace or "default", name): dict(body)}


@kopf.on.event("pods", labels=POD_SELECTOR)
async def pod_changed(
    type: str | None, namespace: str | None, name: str, labels: Mapping[str, str], body: kopf.Body, memo: Any, **_: Any
) -> None:
    """A training pod changed: its job may need to act."""
    controller: Controller = memo.controller
    gone = type == "DELETED" or body.get("metadata", {}).get("deletionTimestamp") is not None
    controller.pod_changed((namespace or "default", labels[names.JOB_NAME]), name, gone)


@kopf.on.event(GROUP, VERSION, PLURAL)
async def job_changed(type: str | None, namespace: str | None, name: str, memo: Any, **_: Any) -> None:
    """A job was created, changed or deleted."""
    controller: Controller = memo.controller
    controller.job_changed((namespace or "default", name), deleted=type == "DELETED")
