"""Carries out the plan for one job: decides from the cached job and pods, creates and
deletes children, writes status and posts events. Runs in a worker thread; the work queue
hands a job to one worker at a time, so nothing here is shared between passes of one job."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from llmtrain.api.errors import one_line
from llmtrain.api.job import LLMTrainingJob
from llmtrain.api.status import FINISHED_PHASES, Failure, LLMTrainingJobStatus
from llmtrain_operator import children
from llmtrain_operator.conditions import set_condition
from llmtrain_operator.decide import FAILED_GANG_GRACE_SECONDS, JobEvent, Plan, creation_refused, decide
from llmtrain_operator.expectations import Expectations
from llmtrain_operator.kube import CONFLICT, NOT_FOUND, PERMANENT_STATUSES, KubeApi, MissingApiError, api_message
from llmtrain_operator.metrics import OperatorMetrics
from llmtrain_operator.podstate import PodView
from llmtrain_operator.progress import TrainerMetrics
from llmtrain_operator.settings import OperatorSettings

logger = logging.getLogger(__name__)
CREATE_FAILED = "FailedCreate"
"""Reason of a job whose children the API server refuses: for good (Failed) or for now (Created=False)."""
JobKey = tuple[str, str]
STATUS_COALESCE_SECONDS = 2.0
"""A status that changed only in its figures (node counts, progress, checkpoint, stragglers) is written at
most this often per job: the pods of a gang that start one by one cost one write, not one each.
A change of phase, condition, attempt or failure is written at once."""
Scraper = Callable[[str, int], TrainerMetrics | None]


def _now() -> datetime:
    # Whole seconds, as metav1.Time stores them, so an unchanged status compares equal.
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class Outcome:
    """How a pass went, for the worker that ran it."""

    phase: str | None = None
    written: dict[str, Any] | None = None
    """The job as stored after this pass wrote its status (the watch shows it a moment later)."""
    retry: bool = False
    """The pass could not finish (a conflict, a child refused for now): try again after a backoff."""
    requeue_after: float = 0.0
    """Seconds after which the job must be looked at again (a status write held back), 0 for none."""


class Reconciler:
    """Reconciles one job per call; many jobs at once on different threads."""

    def __init__(
        self,
        kube: KubeApi,
        settings: OperatorSettings,
        metrics: OperatorMetrics,
        expectations: Expectations[JobKey],
        scrape: Scraper,
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.metrics = metrics
        self.expectations = expectations
        self.scrape = scrape
        self._creators = ThreadPoolExecutor(settings.reconcile_workers, thread_name_prefix="create")
        self._models: dict[JobKey, tuple[str, LLMTrainingJob]] = {}
        """The last job parsed per key, with its resourceVersion: a pass that finds it unchanged skips pydantic."""
        self._last_status_write: dict[JobKey, float] = {}
        """Monotonic time of each job's last status write."""
        self._children_made: dict[JobKey, tuple[str, int]] = {}
        """(uid, attempt) whose Service, ConfigMap and PodGroup exist: created once, not on every pass."""

    def forget(self, key: JobKey) -> None:
        """Drop what was kept for a deleted job."""
        self._models.pop(key, None)
        self._children_made.pop(key, None)
        self._last_status_write.pop(key, None)

    def reconcile(self, key: JobKey, body: dict[str, Any], pods: list[PodView], read_metrics: bool) -> Outcome:
        """Bring one job one step closer to its spec, from the job and pods as last seen."""
        with self.metrics.reconcile_duration.time():
            if body["metadata"].get("deletionTimestamp"):
                return Outcome()
            try:
                job = self._model(key, body)
            except ValidationError as error:
                return self._refuse(body, error)
            metrics = self._trainer_metrics(job, pods) if read_metrics else None
            plan = decide(job, pods, _now(), metrics)
            return self._carry_out(key, body, job, plan)

    def _model(self, key: JobKey, body: dict[str, Any]) -> LLMTrainingJob:
        version = body["metadata"].get("resourceVersion", "")
        cached = self._models.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        job = LLMTrainingJob.model_validate(body)
        self._models[key] = (version, job)
        return job

    def _trainer_metrics(self, job: LLMTrainingJob, pods: list[PodView]) -> TrainerMetrics | None:
        if job.spec.trainer is None or job.status is None:
            return None
        rank0 = next((p for p in pods if p.rank == 0 and p.attempt == job.status.attempt and p.pod_ip), None)
        if rank0 is None or not (rank0.running or rank0.succeeded):
            return None
        return self.scrape(rank0.pod_ip or "", self.settings.trainer_metrics_port)

    def _carry_out(self, key: JobKey, body: dict[str, Any], job: LLMTrainingJob, plan: Plan) -> Outcome:
        namespace, name = key
        retry = False
        if plan.create_ranks:
            plan, retry = self._launch(key, job, plan)
        grace = FAILED_GANG_GRACE_SECONDS if plan.stop_at_once else None
        self._delete_pods(key, plan.delete_pods, grace)
        hold = 0.0 if plan.events else self._hold_status(key, job, plan.status)
        if hold > 0:
            return Outcome(job.status.phase if job.status else None, retry=retry, requeue_after=hold)
        try:
            written = self._write_status(key, body, job, plan.status)
        except ApiException as error:
            if error.status == NOT_FOUND:
                return Outcome()
            if error.status == CONFLICT:
                # Computed from a job that has changed since: the watch brings the new one.
                return Outcome(plan.status.phase, retry=True)
            raise
        for event in plan.events:
            self.kube.post_event(body, event.type, event.reason, event.message)
        if plan.delete_job:
            logger.info("deleting %s/%s: ttlSecondsAfterFinished has passed", namespace, name)
            self.kube.delete_job(namespace, name)
        return Outcome(plan.status.phase, written, retry)

    def _launch(self, key: JobKey, job: LLMTrainingJob, plan: Plan) -> tuple[Plan, bool]:
        """Create the children; the plan to carry on with (another one when the API server
        refuses), and whether to try again."""
        identity = (job.metadata.uid or "", plan.status.attempt)
        try:
            if self._children_made.get(key) != identity:
                self.kube.create(children.headless_service(job))
                if job.spec.trainer is not None:
                    self.kube.update_config_map(children.config_map(job))
                group = children.pod_group(job)
                if group is not None:
                    self.kube.create(group)
                self._children_made[key] = identity
            self._create_pods(
                key, [children.pod(job, rank, plan.status.attempt, self.settings) for rank in plan.create_ranks]
            )
        except MissingApiError as error:
            self._hold(plan, "PodGroupUnavailable", str(error))
            return plan, True
        except ApiException as error:
            message = api_message(error)
            if error.status in PERMANENT_STATUSES:
                # The same object is refused the same way on every pass: retrying cannot help.
                failure = Failure(reason=CREATE_FAILED, message=f"the API server refused a child object: {message}")
                return creation_refused(job.model_copy(update={"status": plan.status}), failure, _now()), False
            logger.warning("creating the children of %s failed, retrying: %s", job.metadata.name, message)
            self._hold(plan, CREATE_FAILED, message)
            return plan, True
        return plan, False

    def _create_pods(self, key: JobKey, manifests: list[dict[str, Any]]) -> None:
        """Create a gang's pods at once; the first error, once every request has returned."""
        self.expectations.expect(key, "create", [m["metadata"]["name"] for m in manifests])

        def create(manifest: dict[str, Any]) -> None:
            pod_name = manifest["metadata"]["name"]
            try:
                created = self.kube.create(manifest)
            except BaseException:
                self.expectations.cancel(key, pod_name)
                raise
            if created:
                self.metrics.pods_created.inc()
            else:
                # It exists already (the watch will show it, or shows it deleting): no event is due.
                self.expectations.cancel(key, pod_name)

        futures = [self._creators.submit(create, manifest) for manifest in manifests]
        errors = [error for error in (future.exception() for future in futures) if error is not None]
        if errors:
            raise errors[0]

    def _delete_pods(self, key: JobKey, pod_names: list[str], grace: int | None) -> None:
        if not pod_names:
            return
        namespace = key[0]
        self.expectations.expect(key, "delete", pod_names)
        for pod_name in pod_names:
            try:
                if not self.kube.delete_pod(namespace, pod_name, grace):
                    self.expectations.cancel(key, pod_name)
            except BaseException:
                self.expectations.cancel(key, pod_name)
                raise

    def _hold(self, plan: Plan, reason: str, message: str) -> None:
        """Keep the job Pending with the reason in status, and create no pods."""
        conditions = list(plan.status.conditions or [])
        if set_condition(conditions, "Created", "False", reason, message, _now(), plan.status.observed_generation):
            plan.events.append(JobEvent("Warning", reason, message))
        plan.status.conditions = conditions
        plan.status.phase = "Pending"
        plan.create_ranks = []

    def _hold_status(self, key: JobKey, job: LLMTrainingJob, status: LLMTrainingJobStatus) -> float:
        """Seconds to hold back a status that changed only in its figures; 0 to write it now."""
        previous = job.status
        if previous is None or status == previous:
            return 0.0
        figures = {
            "nodes": previous.nodes,
            "progress": previous.progress,
            "checkpoint": previous.checkpoint,
            "stragglers": previous.stragglers,
        }
        if status.model_copy(update=figures) != previous:
            return 0.0
        since = time.monotonic() - self._last_status_write.get(key, float("-inf"))
        return max(0.0, STATUS_COALESCE_SECONDS - since)

    def _write_status(
        self, key: JobKey, body: dict[str, Any], job: LLMTrainingJob, status: LLMTrainingJobStatus
    ) -> dict[str, Any] | None:
        previous = job.status or LLMTrainingJobStatus()
        if status == previous and body.get("status"):
            return None
        metadata = body["metadata"]
        written = self.kube.write_status(
            metadata["namespace"], metadata["name"], status.to_wire(defaults=True), metadata["resourceVersion"]
        )
        self._last_status_write[key] = time.monotonic()
        if status.restarts > previous.restarts:
            self.metrics.job_restarts.inc()
        if status.phase in FINISHED_PHASES and previous.phase != status.phase:
            self.metrics.jobs_finished.labels(result=status.phase).inc()
        return written

    def _refuse(self, body: dict[str, Any], error: ValidationError) -> Outcome:
        """A job the API server took but the models refuse (a CRD older than the operator)."""
        if (body.get("status") or {}).get("phase") == "Failed":
            return Outcome("Failed")
        message = one_line(error, LLMTrainingJob)
        now = _now().isoformat()
        status = {
            "phase": "Failed",
            "completionTime": now,
            "failure": {"reason": "InvalidSpec", "message": message},
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "InvalidSpec",
                    "message": message,
                    "lastTransitionTime": now,
                }
            ],
        }
        metadata = body["metadata"]
        written = self.kube.write_status(metadata["namespace"], metadata["name"], status, metadata["resourceVersion"])
        self.kube.post_event(body, "Warning", "InvalidSpec", message)
        return Outcome("Failed", written)

    def close(self) -> None:
        """Stop the pod-creation threads (at shutdown)."""
        self._creators.shutdown(wait=False, cancel_futures=True)
