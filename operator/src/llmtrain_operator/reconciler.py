"""Carries out the plan for one job: reads it fresh, decides, creates and deletes
children, writes status and posts events. One job is reconciled by one thread at a time."""

from __future__ import annotations

import logging
import threading
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
from llmtrain_operator.kube import PERMANENT_STATUSES, KubeApi, MissingApiError, api_message
from llmtrain_operator.metrics import OperatorMetrics
from llmtrain_operator.podstate import PodView
from llmtrain_operator.progress import TrainerMetrics
from llmtrain_operator.scrape import scrape
from llmtrain_operator.settings import OperatorSettings

logger = logging.getLogger(__name__)
CREATE_FAILED = "FailedCreate"
"""Reason of a job whose children the API server refuses: for good (Failed) or for now (Created=False)."""


def _now() -> datetime:
    # Whole seconds, as metav1.Time stores them, so an unchanged status compares equal.
    return datetime.now(UTC).replace(microsecond=0)


class Reconciler:
    """Reconciles jobs one at a time per job, any number of jobs at once."""

    def __init__(self, kube: KubeApi, settings: OperatorSettings, metrics: OperatorMetrics) -> None:
        self.kube = kube
        self.settings = settings
        self.metrics = metrics
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _lock(self, key: tuple[str, str]) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    def forget(self, namespace: str, name: str) -> None:
        """Drop what was kept for a deleted job."""
        with self._locks_guard:
            self._locks.pop((namespace, name), None)

    def reconcile(self, namespace: str, name: str, pods: list[PodView], read_metrics: bool) -> str | None:
        """Bring one job one step closer to its spec; returns its phase afterwards."""
        with self._lock((namespace, name)), self.metrics.reconcile_duration.time():
            body = self.kube.get_job(namespace, name)
            if body is None or body["metadata"].get("deletionTimestamp"):
                return None
            try:
                job = LLMTrainingJob.model_validate(body)
            except ValidationError as error:
                return self._refuse(body, error)
            metrics = self._trainer_metrics(job, pods) if read_metrics else None
            plan = decide(job, pods, _now(), metrics)
            self._carry_out(body, job, plan)
            return plan.status.phase

    def _trainer_metrics(self, job: LLMTrainingJob, pods: list[PodView]) -> TrainerMetrics | None:
        if job.spec.trainer is None or job.status is None:
            return None
        rank0 = next((p for p in pods if p.rank == 0 and p.attempt == job.status.attempt and p.pod_ip), None)
        if rank0 is None or not (rank0.running or rank0.succeeded):
            return None
        return scrape(rank0.pod_ip or "", self.settings.trainer_metrics_port)

    def _carry_out(self, body: dict[str, Any], job: LLMTrainingJob, plan: Plan) -> None:
        namespace, name = job.metadata.namespace or "default", job.metadata.name
        if plan.create_ranks:
            plan = self._launch(job, plan)
        grace = FAILED_GANG_GRACE_SECONDS if plan.stop_at_once else None
        for pod_name in plan.delete_pods:
            self.kube.delete_pod(namespace, pod_name, grace)
        self._write_status(body, job, plan.status)
        for event in plan.events:
            self.kube.post_event(body, event.type, event.reason, event.message)
        if plan.delete_job:
            logger.info("deleting %s/%s: ttlSecondsAfterFinished has passed", namespace, name)
            self.kube.delete_job(namespace, name)

    def _launch(self, job: LLMTrainingJob, plan: Plan) -> Plan:
        """Create the children; the plan to carry on with (another one when the API server refuses)."""
        try:
            self.kube.create(children.headless_service(job))
            if job.spec.trainer is not None:
                self.kube.update_config_map(children.config_map(job))
            group = children.pod_group(job)
            if group is not None:
                self.kube.create(group)
            for rank in plan.create_ranks:
                if self.kube.create(children.pod(job, rank, plan.status.attempt, self.settings)):
                    self.metrics.pods_created.inc()
        except MissingApiError as error:
            self._hold(plan, "PodGroupUnavailable", str(error))
        except ApiException as error:
            message = api_message(error)
            if error.status in PERMANENT_STATUSES:
                # The same object is refused the same way on every pass: retrying cannot help.
                failure = Failure(reason=CREATE_FAILED, message=f"the API server refused a child object: {message}")
                return creation_refused(job.model_copy(update={"status": plan.status}), failure, _now())
            logger.warning(
                "creating the children of %s failed, retrying on the next pass: %s", job.metadata.name, message
            )
            self._hold(plan, CREATE_FAILED, message)
        return plan

    def _hold(self, plan: Plan, reason: str, message: str) -> None:
        """Keep the job Pending with the reason in status, and create no pods."""
        conditions = list(plan.status.conditions or [])
        if set_condition(conditions, "Created", "False", reason, message, _now(), plan.status.observed_generation):
            plan.events.append(JobEvent("Warning", reason, message))
        plan.status.conditions = conditions
        plan.status.phase = "Pending"
        plan.create_ranks = []

    def _write_status(self, body: dict[str, Any], job: LLMTrainingJob, status: LLMTrainingJobStatus) -> None:
        previous = job.status or LLMTrainingJobStatus()
        if status == previous and body.get("status"):
            return
        if status.restarts > previous.restarts:
            self.metrics.job_restarts.inc()
        if status.phase in FINISHED_PHASES and previous.phase != status.phase:
            self.metrics.jobs_finished.labels(result=status.phase).inc()
        self.kube.write_status(job.metadata.namespace or "default", job.metadata.name, status.to_wire(defaults=True))

    def _refuse(self, body: dict[str, Any], error: ValidationError) -> str:
        """A job the API server took but the models refuse (a CRD older than the operator)."""
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
        if (body.get("status") or {}).get("phase") != "Failed":
            self.kube.write_status(body["metadata"]["namespace"], body["metadata"]["name"], status)
            self.kube.post_event(body, "Warning", "InvalidSpec", message)
        return "Failed"
