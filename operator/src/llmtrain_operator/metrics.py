"""The operator's own Prometheus metrics (prefix llmtrain_operator_)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from llmtrain.api.status import PHASES


class OperatorMetrics:
    """Counters and gauges the reconciler updates; served on LLMTRAIN_METRICS_PORT."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.jobs = Gauge("llmtrain_operator_jobs", "Jobs by phase.", ["phase"], registry=self.registry)
        self.reconcile_duration = Histogram(
            "llmtrain_operator_reconcile_duration_seconds", "Time to reconcile one job.", registry=self.registry
        )
        self.pods_created = Counter("llmtrain_operator_pods_created", "Training pods created.", registry=self.registry)
        self.job_restarts = Counter("llmtrain_operator_job_restarts", "Gang restarts started.", registry=self.registry)
        self.reconcile_errors = Counter(
            "llmtrain_operator_reconcile_errors", "Passes that failed and were retried.", registry=self.registry
        )
        self.queue_depth = Gauge(
            "llmtrain_operator_workqueue_depth", "Jobs waiting for a reconcile worker.", registry=self.registry
        )
        self.jobs_finished = Counter(
            "llmtrain_operator_jobs_finished", "Jobs that ended, by result.", ["result"], registry=self.registry
        )

    def count_phases(self, phases: list[str]) -> None:
        """Set the jobs gauge from the phases of every watched job."""
        for phase in PHASES:
            self.jobs.labels(phase=phase).set(phases.count(phase))
