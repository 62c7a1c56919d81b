"""The reconcile decision: from a job, its pods and the time, what should happen next.

Pure and level-triggered: the same inputs give the same plan, so running it again after
an operator restart, or twice for one event, changes nothing. The reconciler carries the
plan out; this module never talks to the API server.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from llmtrain.api import names
from llmtrain.api.contract import METRIC_RESTARTS_IN_PLACE, TRAINING_ERROR, job_checkpoint_dir, step_path
from llmtrain.api.job import LLMTrainingJob
from llmtrain.api.status import (
    FINISHED_PHASES,
    CheckpointStatus,
    ConditionType,
    Failure,
    LLMTrainingJobStatus,
    NodeCounts,
    Phase,
    Progress,
    Straggler,
)
from llmtrain_operator.conditions import set_condition
from llmtrain_operator.podstate import IMAGE_ERRORS, PodView
from llmtrain_operator.progress import TrainerMetrics, checkpoint_from, progress_from

HUNG = "Hung"
"""The reason of a restart because the running attempt stopped stepping."""
PREEMPTED = "Preempted"
"""The reason of a gang restart because the cluster took a pod away."""

REPLACING_POD = "ReplacingPod"
"""The reason while pods of lost ranks are replaced alone and the others' agents wait for them."""
REPLACEMENT_TIMEOUT_SECONDS = 600
"""How long the other pods wait for a replaced rank to run again before the gang restarts:
torchrun's own rendezvous join timeout, after which their agents give up waiting too."""
FAILED_GANG_GRACE_SECONDS = 5
"""Grace period for the pods of a failed attempt: without all ranks no checkpoint can be saved,
so waiting out spec.runPolicy.terminationGracePeriodSeconds would only delay the restart."""


@dataclass(frozen=True)
class JobEvent:
    """A Kubernetes Event to post on the job."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass
class Plan:
    """What the reconciler must do for one job."""

    status: LLMTrainingJobStatus
    create_ranks: list[int] = field(default_factory=list)
    delete_pods: list[str] = field(default_factory=list)
    stop_at_once: bool = False
    """Delete with FAILED_GANG_GRACE_SECONDS: the pods of a failed gang cannot save a checkpoint."""
    delete_job: bool = False
    events: list[JobEvent] = field(default_factory=list)


class _Decision:
    """One reconcile pass over one job; methods build up the plan."""

    def __init__(self, job: LLMTrainingJob, pods: list[PodView], now: datetime) -> None:
        self.job = job
        self.spec = job.spec
        self.now = now
        self.pods = pods
        self.status = (job.status or LLMTrainingJobStatus()).model_copy(deep=True)
        self.conditions = list(self.status.conditions or [])
        self.plan = Plan(status=self.status)

    def condition(self, type_: ConditionType, status: Literal["True", "False"], reason: str, message: str = "") -> bool:
        return set_condition(self.conditions, type_, status, reason, message, self.now, self.job.metadata.generation)

    def reason(self, type_: ConditionType) -> str | None:
        return next((c.reason for c in self.conditions if c.type == type_), None)

    def event(self, type_: Literal["Normal", "Warning"], reason: str, message: str) -> None:
        self.plan.events.append(JobEvent(type_, reason, message))

    def enter(self, phase: Phase, reason: str, message: str, warning: bool = False) -> None:
        if self.status.phase != phase:
            self.event("Warning" if warning else "Normal", reason, message)
        self.status.phase = phase

    def delete(self, pods: list[PodView]) -> None:
        self.plan.delete_pods += [p.name for p in pods if not p.deleting and p.name not in self.plan.delete_pods]

    def finish(self) -> Plan:
        self.status.conditions = self.conditions
        self.status.observed_generation = self.job.metadata.generation
        return self.plan

    # --- the phases -------------------------------------------------------------

    def finished(self) -> Plan:
        policy = self.spec.run_policy.clean_pod_policy
        if policy == "All":
            self.delete(self.pods)
        elif policy == "Running":
            self.delete([p for p in self.pods if not (p.succeeded or p.phase == "Failed")])
        ttl = self.spec.run_policy.ttl_seconds_after_finished
        completed = self.status.completion_time
        if ttl is not None and completed is not None and self.now >= completed + timedelta(seconds=ttl):
            self.plan.delete_job = True
        return self.finish()

    def suspended(self) -> Plan:
        self.delete(self.pods)
        if self.condition("Suspended", "True", "Suspended", "runPolicy.suspend is true; pods are stopped"):
            self.event("Normal", "Suspended", "job suspended; its pods are being deleted")
        self.condition("Running", "False", "Suspended")
        if self.reason("Restarting") == REPLACING_POD:
            self.condition("Restarting", "False", "Suspended")
        self.status.phase = "Suspended"
        self.status.nodes = NodeCounts(desired=self.spec.nodes, active=sum(not p.deleting for p in self.pods))
        return self.finish()

    def fail(self, failure: Failure, reason_event: str) -> Plan:
        self.status.failure = failure
        self.status.completion_time = self.now
        self.condition("Failed", "True", failure.reason, failure.message)
        self.condition("Running", "False", failure.reason)
        self.condition("Restarting", "False", failure.reason)
        self.enter("Failed", reason_event, failure.one_line(), warning=True)
        return self.finished()

    def retryable(self, pod: PodView) -> bool:
        if pod.waiting_reason in IMAGE_ERRORS or pod.permanent:
            return False
        policy = self.spec.run_policy.restart_policy
        if policy == "Never":
            return False
        if policy == "ExitCode" and not pod.evicted and pod.exit_code is not None:
            return pod.exit_code >= 128
        return True

    def restart_or_fail(self, failure: Failure, retryable: bool, current: list[PodView]) -> Plan:
        if not retryable:
            return self.fail(failure, "Failed")
        limit = self.spec.run_policy.backoff_limit
        if self._restarts_so_far() >= limit:
            return self._give_up(failure)
        self.status.restarts += 1
        self.status.failure = failure
        self._resuming()
        self.condition("Restarting", "True", failure.reason, failure.one_line())
        self.condition("Running", "False", "Restarting")
        self.enter(
            "Restarting",
            "RestartingGang",
            f"{failure.one_line()}; restarting all {self.spec.nodes} nodes (restart {self.status.restarts} of {limit})",
            warning=True,
        )
        self.delete(current)
        self.plan.stop_at_once = True
        self.status.nodes = _counts(self.spec.nodes, current)
        return self.finish()

    def _restarts_so_far(self) -> int:
        return self.status.restarts + self.status.restarts_in_place

    def _give_up(self, failure: Failure) -> Plan:
        limit = self.spec.run_policy.backoff_limit
        gave_up = f"gave up after {self._restarts_so_far()} restarts (backoffLimit {limit})"
        exhausted = failure.model_copy(
            update={"reason": "BackoffLimitExceeded", "message": f"{failure.one_line()}; {gave_up}"}
        )
        return self.fail(exhausted, "BackoffLimitExceeded")

    def preempted(self, pod: PodView, current: list[PodView]) -> Plan:
        """The cluster took a pod away: restart the gang without using the restart budget.

        The pods are stopped with their grace period: on SIGTERM every rank of the built-in
        trainer takes part in a last checkpoint, which the next attempt resumes from.
        """
        failure = Failure(
            reason=pod.disruption or PREEMPTED,
            message="the cluster took the pod away (an eviction, a drained or lost node, a preemption)",
            rank=pod.rank,
            pod=pod.name,
        )
        if self.spec.run_policy.restart_policy == "Never":
            return self.fail(failure, "Failed")
        self.status.preemptions += 1
        self.status.failure = failure
        self._resuming()
        self.condition("Restarting", "True", PREEMPTED, failure.one_line())
        self.condition("Running", "False", "Restarting")
        self.enter(
            "Restarting",
            PREEMPTED,
            f"{failure.one_line()}; restarting all {self.spec.nodes} nodes from the checkpoint they save on SIGTERM "
            "(not counted against backoffLimit)",
            warning=True,
        )
        self.delete(current)
        self.status.nodes = _counts(self.spec.nodes, current)
        return self.finish()

    def replace(self, lost: list[PodView], ranks: list[int], current: list[PodView]) -> Plan | None:
        """Create the lost ranks' pods again while the others stay; None once every pod runs.

        The other pods' training processes save a checkpoint with the stopped one (or fail
        with the lost one) and their agents wait in the rendezvous for the replacements, then
        every rank resumes from the checkpoint. Past REPLACEMENT_TIMEOUT_SECONDS the gang
        restarts.
        """
        restarting = next((c for c in self.conditions if c.type == "Restarting"), None)
        replacing = restarting is not None and restarting.status == "True" and restarting.reason == REPLACING_POD
        present = {p.rank for p in current if not p.deleting}
        if not ranks and all(p.running for p in current) and len(present) == self.spec.nodes:
            return None
        if replacing and restarting is not None:
            waited = self.now - restarting.last_transition_time
            if waited > timedelta(seconds=REPLACEMENT_TIMEOUT_SECONDS):
                pending = sorted(set(range(self.spec.nodes)) - {p.rank for p in current if p.running})
                failure = Failure(
                    reason="ReplacementTimedOut",
                    message=f"rank(s) {_ranks(pending)} did not run again within {REPLACEMENT_TIMEOUT_SECONDS}s "
                    "of being replaced",
                    rank=pending[0] if pending else None,
                )
                return self.restart_or_fail(failure, True, current)
        if ranks:
            pods = ", ".join(names.pod_name(self.job.metadata.name, rank) for rank in ranks)
            disruption = next((p.disruption for p in lost if p.disruption), None)
            failure = Failure(
                reason=disruption or "PodLost",
                message=f"the pod of rank(s) {_ranks(ranks)} was deleted, evicted or lost with its node",
                rank=ranks[0],
                pod=names.pod_name(self.job.metadata.name, ranks[0]),
            )
            message = f"{failure.one_line()}; replacing {pods} alone"
            if self.condition("Restarting", "True", REPLACING_POD, message):
                self.status.failure = failure
                self.status.preemptions += disruption is not None
                self.event(
                    "Warning",
                    REPLACING_POD,
                    f"{message}: the other pods stay, their training processes restart in place and every rank "
                    "resumes from the checkpoint",
                )
        self.delete(lost)
        self.plan.create_ranks = sorted(set(range(self.spec.nodes)) - {p.rank for p in current})
        self.status.pod_replacements += len(self.plan.create_ranks)
        self.condition("Running", "False", REPLACING_POD, "waiting for the replaced pods to run and rejoin")
        self.status.phase = "Restarting"
        self.status.nodes = _counts(self.spec.nodes, current)
        return self.finish()

    def hung(self, current: list[PodView]) -> Plan | None:
        """A restart with reason Hung when the running attempt has not stepped for too long."""
        hang, startup = self.spec.hang_timeout, self.spec.startup_timeout
        running = next((c for c in self.conditions if c.type == "Running" and c.status == "True"), None)
        if hang is None or startup is None or running is None:
            return None
        progress = self.status.progress
        stepping = progress is not None and progress.resuming_from is None and progress.step_advanced_at is not None
        if stepping:
            assert progress is not None and progress.step_advanced_at is not None
            since, bound = max(progress.step_advanced_at, running.last_transition_time), hang
            field, what = "hangTimeoutSeconds", f"step {progress.step} was the last; none came in {hang}s"
        else:
            since, bound = running.last_transition_time, startup
            field, what = "startupTimeoutSeconds", f"no step came in the {startup}s after every pod ran"
        if self.now - since <= timedelta(seconds=bound):
            return None
        failure = Failure(reason=HUNG, message=f"{what} (runPolicy.{field})")
        return self.restart_or_fail(failure, self.spec.run_policy.restart_policy != "Never", current)

    def stragglers(self, metrics: TrainerMetrics | None, current: list[PodView]) -> None:
        """Name the ranks whose forward passes took runPolicy.stragglerFactor times the median
        of the other ranks' over the trainer's last 50 steps; an event when one appears
        or recovers."""
        factor = self.spec.straggler_factor
        if factor is None or metrics is None or len(metrics.forward_seconds) < 2:
            return
        seconds = metrics.forward_seconds
        previous = {s.rank: s for s in self.status.stragglers or []}
        procs = self.spec.effective_procs_per_node
        found: list[Straggler] = []
        for rank, own in sorted(seconds.items()):
            others = statistics.median(t for r, t in seconds.items() if r != rank)
            if others <= 0 or own < factor * others:
                continue
            pod = next((p for p in current if p.rank == rank // procs), None)
            pod_name = names.pod_name(self.job.metadata.name, rank // procs)
            straggler = Straggler(
                rank=rank,
                pod=pod_name,
                node=pod.node if pod is not None else None,
                slowdown=round(own / others, 1),
                since=previous[rank].since if rank in previous else self.now,
            )
            found.append(straggler)
            if rank not in previous:
                self.event(
                    "Warning",
                    "Straggler",
                    f"rank {rank} ({pod_name} on node {straggler.node or 'unknown'}) takes {straggler.slowdown}x "
                    f"the median time of the other ranks for its forward passes (runPolicy.stragglerFactor {factor}): "
                    "every step waits for it",
                )
        for rank in sorted(set(previous) - {s.rank for s in found}):
            self.event("Normal", "StragglerRecovered", f"rank {rank} keeps pace with the other ranks again")
        self.status.stragglers = found or None

    def restarted_in_place(self, metrics: TrainerMetrics | None) -> Plan | None:
        """Count the restarts in place rank 0 reports; a plan when they exceed backoffLimit."""
        if metrics is None:
            return None
        reported = int(metrics.values.get(METRIC_RESTARTS_IN_PLACE, 0))
        if reported <= self.status.restarts_in_place:
            return None
        cause = metrics.last_restart
        if cause is None:
            failure = Failure(reason=TRAINING_ERROR, message="a training process failed")
        else:
            pod = names.pod_name(self.job.metadata.name, cause.node_rank)
            failure = Failure(reason=cause.reason, message=cause.summary, rank=cause.node_rank, pod=pod)
        limit = self.spec.run_policy.backoff_limit
        self.status.failure = failure
        self.status.restarts_in_place = reported
        if self._restarts_so_far() > limit:
            return self._give_up(failure)
        self.event(
            "Warning",
            "RestartedInPlace",
            f"{failure.one_line()}; the training processes restarted inside the running pods "
            f"(restart {self._restarts_so_far()} of {limit})",
        )
        return None

    def decide(self, metrics: TrainerMetrics | None) -> Plan:
        if self.status.phase in FINISHED_PHASES:
            return self.finished()
        if self.spec.run_policy.suspend:
            return self.suspended()
        if self.status.phase == "Suspended":
            self.status.attempt += 1
            self.status.phase = "Pending"
            self.condition("Suspended", "False", "Resumed", "runPolicy.suspend is false; a new attempt starts")
            self._resuming()
            self.event("Normal", "Resumed", f"job resumed; starting attempt {self.status.attempt}")
        if self.status.attempt == 0:
            self.status.attempt = 1
            self.status.start_time = self.now
            self.condition("Created", "True", "JobCreated", "the operator accepted the job")
            self.event("Normal", "Created", f"creating {self.spec.nodes} pods")

        deadline = self.spec.run_policy.active_deadline_seconds
        started = self.status.start_time
        if deadline is not None and started is not None and self.now >= started + timedelta(seconds=deadline):
            failure = Failure(
                reason="DeadlineExceeded",
                message=f"the job ran longer than runPolicy.activeDeadlineSeconds = {deadline}",
            )
            return self.fail(failure, "DeadlineExceeded")

        attempt = self.status.attempt
        current = [p for p in self.pods if p.attempt == attempt]
        self.delete([p for p in self.pods if p.attempt != attempt])

        if self.status.phase == "Restarting" and self.reason("Restarting") != REPLACING_POD:
            if self.pods:
                # The next attempt starts only once every pod of the last one is gone.
                self.delete(current)
                self.plan.stop_at_once = self.reason("Restarting") != PREEMPTED
                return self.finish()
            self.status.attempt = attempt = attempt + 1
            current = []
            self.status.phase = "Pending"
            self.event("Normal", "Started", f"starting attempt {attempt}; the trainer resumes from its checkpoint")

        return self.run(current, metrics)

    def run(self, current: list[PodView], metrics: TrainerMetrics | None) -> Plan:
        nodes = self.spec.nodes
        elastic = self.spec.elastic is not None
        if elastic:
            # Ranks beyond `nodes` leave through a scale-down: how they exit is no failure.
            leaving = [p for p in current if p.rank >= nodes]
            self.delete(leaving)
            current = [p for p in current if p.rank < nodes]
        present = {p.rank for p in current if not p.deleting}
        missing = [rank for rank in range(nodes) if rank not in present]
        gang_started = any(p.started for p in current)

        if self._trainer_finished(current):
            self.status.nodes = _counts(nodes, current)
            return self.succeed("rank 0 exited 0 after the last step's checkpoint", metrics)
        disrupted = [p for p in current if p.evicted and not p.succeeded]
        vanished = [p for p in current if p.deleting and not p.succeeded]
        if self.spec.recovers_in_place and not elastic:
            lost = disrupted + [p for p in vanished if p not in disrupted]
            failed_alone = [p for p in current if p.failed and p not in lost]
            lost_ranks = sorted({p.rank for p in lost} | (set(missing) if gang_started else set()))
            # Rank 0's agent holds the rendezvous the others wait in: without it, the gang restarts.
            rank0_runs = any(p.rank == 0 and p.running and not p.deleting for p in current)
            replacing = self.reason("Restarting") == REPLACING_POD and rank0_runs
            if rank0_runs and 0 not in lost_ranks and not failed_alone and (lost_ranks or replacing):
                plan = self.replace(lost, lost_ranks, current)
                if plan is not None:
                    return plan
        if disrupted and not elastic:
            return self.preempted(disrupted[0], current)
        # The first to fail is the cause. Finish times have whole seconds: within one, a killed
        # rank comes first, since its peers' collectives fail because it is gone.
        failed = sorted((p for p in current if p.failed), key=lambda p: (p.finished_at or "~", not p.killed, p.rank))
        if failed:
            return self.restart_or_fail(failed[0].failure(), self.retryable(failed[0]), current)
        if not elastic and (vanished or (missing and gang_started)):
            rank = vanished[0].rank if vanished else missing[0]
            failure = Failure(
                reason="PodLost",
                message=f"the pod of rank {rank} was deleted or lost with its node while the gang ran",
                rank=rank,
                pod=vanished[0].name if vanished else None,
            )
            return self.restart_or_fail(failure, self.spec.run_policy.restart_policy != "Never", current)

        over_the_limit = self.restarted_in_place(metrics)
        if over_the_limit is not None:
            return over_the_limit
        self.plan.create_ranks = missing
        active = [p for p in current if p.rank < nodes]
        self.status.nodes = _counts(nodes, active)

        if len(active) == nodes and all(p.succeeded for p in active):
            return self.succeed(f"all {nodes} nodes exited 0", metrics)

        unschedulable = next((p.unschedulable for p in active if p.unschedulable), None)
        if missing or not all(p.scheduled for p in active):
            self.status.phase = "Pending"
            if unschedulable is not None:
                # The scheduler rewords its message as nodes come and go; the status follows
                # the wording, the event marks only the moment the job became unschedulable.
                if self.reason("Running") != "Unschedulable":
                    self.event("Warning", "Unschedulable", unschedulable)
                self.condition("Running", "False", "Unschedulable", unschedulable)
            else:
                self.condition("Running", "False", "Pending", "waiting for the pods to be scheduled")
        elif all(p.running or p.succeeded or p.exit_code == 0 for p in active):
            # A kubelet sets a pod's phase a moment after its container exited 0: that rank
            # has finished, the job has not gone back to starting.
            if self.condition("Running", "True", "AllNodesRunning", f"all {nodes} nodes run torchrun"):
                self.condition("Restarting", "False", "AttemptRunning", f"attempt {self.status.attempt} runs")
            self.enter("Running", "Running", f"all {nodes} nodes of attempt {self.status.attempt} are running")
            self._progress(metrics)
            self.stragglers(metrics, current)
            hung = self.hung(current)
            if hung is not None:
                return hung
            return self.finish()
        else:
            self.status.phase = "Starting"
            self.condition("Running", "False", "Starting", "pods are scheduled; containers are starting")
        self._progress(metrics)
        return self.finish()

    def succeed(self, message: str, metrics: TrainerMetrics | None) -> Plan:
        self.status.completion_time = self.now
        self.condition("Succeeded", "True", "Succeeded", message)
        self.condition("Running", "False", "Succeeded")
        self.enter("Succeeded", "Succeeded", f"all {self.spec.nodes} nodes finished training")
        self._progress(metrics)
        self._trained_to_the_end()
        return self.finished()

    def _trainer_finished(self, current: list[PodView]) -> bool:
        """The built-in trainer's rank 0 exits 0 only after the last step and the final
        checkpoint, which every rank took part in: a peer's pod deleted or lost after that
        takes nothing away, and needs no replacement. A peer still running is waited for."""
        if self.spec.trainer is None or not any(p.rank == 0 and p.succeeded for p in current):
            return False
        return all(p.succeeded or p.deleting for p in current)

    def _resuming(self) -> None:
        """A new attempt is coming: the last figures are history, the checkpoint is where it starts."""
        if self.spec.trainer is None:
            return
        checkpoint = self.status.checkpoint.step if self.status.checkpoint is not None else 0
        self.status.stragglers = None
        self.status.progress = Progress(
            step=checkpoint,
            total_steps=self.spec.trainer.schedule.steps,
            resuming_from=checkpoint,
            updated_at=self.now,
            step_advanced_at=self.now,
        )

    def _trained_to_the_end(self) -> None:
        """The built-in trainer exits 0 only after its last step and a final checkpoint.

        Rank 0's metrics go with its process, so the last figures read before it exited
        may stop short of the end; its exit code says where it got to.
        """
        if self.spec.trainer is None:
            return
        total = self.spec.trainer.schedule.steps
        previous = self.status.progress or Progress()
        self.status.progress = previous.model_copy(
            update={"step": total, "total_steps": total, "eta": "0s", "updated_at": self.now, "resuming_from": None}
        )
        if self.status.checkpoint is None or self.status.checkpoint.step != total:
            path = step_path(self._checkpoint_dir(), total)
            self.status.checkpoint = CheckpointStatus(step=total, path=path, saved_at=self.now)

    def _progress(self, metrics: TrainerMetrics | None) -> None:
        if metrics is None:
            return
        progress = progress_from(metrics, self.now, self.status.progress)
        if progress is not None:
            self.status.progress = progress
        self.status.checkpoint = checkpoint_from(metrics, self._checkpoint_dir(), self.status.checkpoint, self.now)

    def _checkpoint_dir(self) -> str:
        metadata = self.job.metadata
        return job_checkpoint_dir(self.spec.checkpoint.path, metadata.namespace or "default", metadata.name)


def _counts(desired: int, pods: list[PodView]) -> NodeCounts:
    return NodeCounts(
        desired=desired,
        active=sum(not (p.succeeded or p.failed) for p in pods),
        ready=sum(p.running for p in pods),
        succeeded=sum(p.succeeded for p in pods),
        failed=sum(p.failed for p in pods),
    )


def _ranks(ranks: list[int]) -> str:
    return ", ".join(map(str, ranks))


def decide(job: LLMTrainingJob, pods: list[PodView], now: datetime, metrics: TrainerMetrics | None = None) -> Plan:
    """The plan for one job given its pods (of every attempt) and rank 0's latest metrics."""
    return _Decision(job, pods, now).decide(metrics)


def creation_refused(job: LLMTrainingJob, failure: Failure, now: datetime) -> Plan:
    """The plan when the API server refuses a child for good: the job fails with its message.

    The pods already created go on the next pass, by runPolicy.cleanPodPolicy.
    """
    return _Decision(job, [], now).fail(failure, failure.reason)
