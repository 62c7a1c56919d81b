"""The reconcile decision, one situation at a time."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from llmtrain.api.job import LLMTrainingJob
from llmtrain_operator.decide import Plan, decide
from llmtrain_operator.progress import RestartCause, TrainerMetrics
from support.operator_objects import pod_body, pods, stored_job

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
SPEC: dict[str, Any] = {
    "nodes": 2,
    "trainer": {"model": {"preset": "test"}, "data": {"paths": ["/d"]}},
    "checkpoint": {"path": "/ckpt"},
}


def _job(run_policy: dict[str, Any] | None = None, **spec: Any) -> LLMTrainingJob:
    return stored_job({**SPEC, "runPolicy": run_policy or {}, **spec})


def _after(job: LLMTrainingJob, plan: Plan) -> LLMTrainingJob:
    """The job as stored once the plan's status is written."""
    return job.model_copy(update={"status": plan.status})


def _running(job: LLMTrainingJob, attempt: int = 1, restarts: int = 0) -> LLMTrainingJob:
    plan = decide(job, [], NOW)
    stored = _after(job, plan)
    stored.status.attempt, stored.status.restarts = attempt, restarts  # type: ignore[union-attr]
    plan = decide(stored, pods(pod_body(0, attempt), pod_body(1, attempt)), NOW)
    assert plan.status.phase == "Running"
    return _after(stored, plan)


def test_a_new_job_creates_every_rank_of_attempt_one() -> None:
    plan = decide(_job(), [], NOW)
    assert plan.create_ranks == [0, 1]
    assert (plan.status.phase, plan.status.attempt, plan.status.start_time) == ("Pending", 1, NOW)
    assert [e.reason for e in plan.events] == ["Created"]
    assert {c.type: c.status for c in plan.status.conditions or []}["Created"] == "True"


def test_unschedulable_pods_say_why_once() -> None:
    job = _after(_job(), decide(_job(), [], NOW))
    reason = "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."
    waiting = pods(
        pod_body(0, phase="Pending", unschedulable=reason), pod_body(1, phase="Pending", unschedulable=reason)
    )
    plan = decide(job, waiting, NOW)
    assert plan.status.phase == "Pending" and plan.create_ranks == []
    running = next(c for c in plan.status.conditions or [] if c.type == "Running")
    assert (running.status, running.reason, running.message) == ("False", "Unschedulable", reason)
    assert [(e.type, e.reason) for e in plan.events] == [("Warning", "Unschedulable")]
    again = decide(_after(job, plan), waiting, NOW + timedelta(seconds=30))
    assert again.events == [] and again.status == plan.status
    reworded = "0/2 nodes are available: 1 node(s) had untolerated taint, 1 Insufficient nvidia.com/gpu."
    still = decide(
        _after(job, plan),
        pods(
            pod_body(0, phase="Pending", unschedulable=reworded), pod_body(1, phase="Pending", unschedulable=reworded)
        ),
        NOW,
    )
    assert still.events == [], "one event when the job becomes unschedulable, not one per wording"
    assert next(c for c in still.status.conditions or [] if c.type == "Running").message == reworded


def test_scheduled_pods_are_starting_then_running() -> None:
    job = _after(_job(), decide(_job(), [], NOW))
    starting = decide(job, pods(pod_body(0, phase="Pending", running=False), pod_body(1)), NOW)
    assert starting.status.phase == "Starting"
    running = decide(_after(job, starting), pods(pod_body(0), pod_body(1)), NOW)
    assert running.status.phase == "Running" and running.status.nodes is not None
    assert (running.status.nodes.ready, running.status.nodes.desired) == (2, 2)
    assert [e.reason for e in running.events] == ["Running"]


def test_a_failed_rank_restarts_the_whole_gang() -> None:
    job = _running(_job())
    plan = decide(job, pods(pod_body(0), pod_body(1, phase="Failed", exit_code=1, message="boom")), NOW)
    assert plan.status.phase == "Restarting" and plan.status.restarts == 1
    assert sorted(plan.delete_pods) == ["gpt-node-0", "gpt-node-1"]
    assert plan.status.failure is not None
    assert (plan.status.failure.rank, plan.status.failure.exit_code, plan.status.failure.pod) == (1, 1, "gpt-node-1")
    assert [(e.type, e.reason) for e in plan.events] == [("Warning", "RestartingGang")]

    stored = _after(job, plan)
    draining = decide(stored, pods(pod_body(0, deleting=True)), NOW)
    assert draining.create_ranks == [] and draining.status.attempt == 1
    fresh = decide(stored, [], NOW)
    assert fresh.status.attempt == 2 and fresh.create_ranks == [0, 1] and fresh.status.restarts == 1


def test_the_backoff_limit_fails_the_job_with_the_culprit() -> None:
    job = _running(_job({"backoffLimit": 2}), attempt=3, restarts=2)
    plan = decide(job, pods(pod_body(0, 3, phase="Failed", exit_code=137, reason="OOMKilled"), pod_body(1, 3)), NOW)
    failure = plan.status.failure
    assert plan.status.phase == "Failed" and failure is not None
    assert (failure.reason, failure.rank, failure.exit_code) == ("BackoffLimitExceeded", 0, 137)
    assert "OOMKilled on rank 0 (gpt-node-0), exit code 137" in failure.message and "backoffLimit 2" in failure.message
    assert plan.status.completion_time == NOW
    assert plan.delete_pods == ["gpt-node-1"], "cleanPodPolicy Running deletes the pods still running"


def test_exit_code_policy_separates_permanent_from_retryable() -> None:
    job = _running(_job({"restartPolicy": "ExitCode"}, command=["x.py"], trainer=None))
    permanent = decide(job, pods(pod_body(0, phase="Failed", exit_code=1), pod_body(1)), NOW)
    assert permanent.status.phase == "Failed" and permanent.status.failure is not None
    assert permanent.status.failure.reason == "Error"
    retried = decide(job, pods(pod_body(0, phase="Failed", exit_code=143), pod_body(1)), NOW)
    assert retried.status.phase == "Restarting"
    evicted = decide(job, pods(pod_body(0, phase="Failed", pod_reason="Evicted", running=False), pod_body(1)), NOW)
    assert evicted.status.phase == "Restarting" and evicted.status.failure is not None
    assert evicted.status.failure.reason == "Evicted"


def test_never_fails_at_the_first_failure() -> None:
    job = _running(_job({"restartPolicy": "Never"}))
    plan = decide(job, pods(pod_body(0, phase="Failed", exit_code=137), pod_body(1)), NOW)
    assert plan.status.phase == "Failed" and plan.status.restarts == 0


def test_a_rejected_trainer_config_is_not_retried() -> None:
    job = _running(_job())
    report = "llmtrain-trainer: InvalidConfig: rank 0: data.paths: no file matches /d"
    plan = decide(job, pods(pod_body(0, phase="Failed", exit_code=1, message=report), pod_body(1)), NOW)
    assert plan.status.phase == "Failed" and plan.status.failure is not None and plan.status.restarts == 0
    assert plan.status.failure.reason == "InvalidConfig" and plan.status.failure.message == report
    assert (
        plan.events[-1].message
        == "InvalidConfig on rank 0 (gpt-node-0), exit code 1: rank 0: data.paths: no file matches /d"
    )


def test_another_jobs_checkpoints_fail_the_job_at_once() -> None:
    job = _running(_job())
    report = (
        "llmtrain-trainer: CheckpointOwnedByAnotherJob: rank 0: "
        "/ckpt/ml/gpt holds the checkpoints of job ml/gpt (uid x)"
    )
    plan = decide(job, pods(pod_body(0, phase="Failed", exit_code=1, message=report), pod_body(1)), NOW)
    assert plan.status.phase == "Failed" and plan.status.failure is not None
    assert plan.status.failure.reason == "CheckpointOwnedByAnotherJob"
    assert [e.type for e in plan.events] == ["Warning"]


def test_a_runtime_error_is_retried_with_a_one_line_reason_and_the_detail_kept() -> None:
    job = _running(_job())
    report = (
        "llmtrain-trainer: TrainingError: rank 1: RuntimeError: NaN loss at step 7\n"
        'Traceback (most recent call last):\n  File "train.py", line 9\nRuntimeError: NaN loss at step 7'
    )
    plan = decide(job, pods(pod_body(0, phase="Failed", exit_code=1, message=report), pod_body(1)), NOW)
    assert plan.status.phase == "Restarting" and plan.status.failure is not None
    assert plan.status.failure.reason == "TrainingError" and plan.status.failure.message == report
    restarting = next(c for c in plan.status.conditions or [] if c.type == "Restarting")
    assert (
        restarting.message
        == "TrainingError on rank 0 (gpt-node-0), exit code 1: rank 1: RuntimeError: NaN loss at step 7"
    )
    assert plan.stop_at_once, "the pods of a broken gang cannot save: they are stopped without a grace period"


def test_a_custom_commands_python_exception_is_its_one_line_reason() -> None:
    job = _running(_job(command=["x.py"], trainer=None))
    tail = (
        '[rank1]: Traceback (most recent call last):\n[rank1]:   File "x.py", line 3, in <module>\n'
        "[rank1]: ValueError: learning rate must be positive\n" + TORCHRUN_SUMMARY.replace("-9", "1")
    )
    plan = decide(job, pods(pod_body(1, phase="Failed", exit_code=1, message=tail), pod_body(0)), NOW)
    assert plan.status.failure is not None and plan.status.failure.reason == "Error"
    assert plan.status.failure.one_line() == (
        "Error on rank 1 (gpt-node-1), exit code 1: ValueError: learning rate must be positive"
    )


def test_a_long_log_tail_is_bounded_to_its_end() -> None:
    job = _running(_job(command=["x.py"], trainer=None))
    tail = "\n".join(f"line {i}" for i in range(2000)) + "\nValueError: the real cause"
    plan = decide(job, pods(pod_body(0, phase="Failed", exit_code=1, message=tail), pod_body(1)), NOW)
    assert plan.status.failure is not None
    assert len(plan.status.failure.message.encode()) <= 2048 + len("ValueError: the real cause\n")
    assert plan.status.failure.message.endswith("ValueError: the real cause")


TORCHRUN_SUMMARY = """[rank1]: stepping
============================================================
x.py FAILED
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-12-01_12:00:00
  host      : gpt-node-0
  rank      : 1 (local_rank: 1)
  exitcode  : -9 (pid: 4321)
  error_file: <N/A>
  traceback : Signal 9 (SIGKILL) received by PID 4321
============================================================"""


def test_a_worker_killed_under_plain_torchrun_counts_as_its_signal() -> None:
    job = _running(_job({"restartPolicy": "ExitCode"}, command=["x.py"], trainer=None))
    plan = decide(job, pods(pod_body(0, phase="Failed", exit_code=1, message=TORCHRUN_SUMMARY), pod_body(1)), NOW)
    # torchrun exits 1 (permanent under ExitCode); the worker died of SIGKILL (137: retried).
    assert plan.status.phase == "Restarting" and plan.status.failure is not None
    assert (plan.status.failure.reason, plan.status.failure.exit_code) == ("WorkerKilled", 137)
    assert plan.status.failure.message.startswith(
        "llmtrain-trainer: WorkerKilled: a worker was killed by SIGKILL, probably out of memory"
    )


def test_the_launchers_signal_exit_code_is_retried_under_exit_code_policy() -> None:
    job = _running(_job({"restartPolicy": "ExitCode"}))
    report = "llmtrain-trainer: WorkerKilled: rank 3 was killed by SIGKILL, probably out of memory"
    plan = decide(job, pods(pod_body(0, phase="Failed", exit_code=137, message=report), pod_body(1)), NOW)
    assert plan.status.phase == "Restarting" and plan.status.failure is not None
    assert plan.status.failure.reason == "WorkerKilled" and plan.status.failure.exit_code == 137


def test_a_container_killed_by_a_signal_without_a_report_says_so_not_its_last_log_line() -> None:
    job = _running(_job())
    # What a kubelet reports when a runtime SIGKILLs the launcher: "Error", 137, the log's end.
    killed = pod_body(1, phase="Failed", exit_code=137, message="[rank 1] INFO step 40 loss 3.2")
    killed["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] = "Error"
    plan = decide(job, pods(pod_body(0), killed), NOW)
    assert plan.status.phase == "Restarting" and plan.status.failure is not None
    assert (plan.status.failure.reason, plan.status.failure.exit_code) == ("WorkerKilled", 137)
    assert plan.status.failure.one_line().startswith(
        "WorkerKilled on rank 1 (gpt-node-1), exit code 137: the training container was killed by SIGKILL"
    )
    assert "step 40 loss 3.2" in plan.status.failure.message


def test_an_oom_killed_container_keeps_the_kubelets_reason() -> None:
    job = _running(_job())
    killed = pod_body(1, phase="Failed", exit_code=137, message="")
    killed["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] = "OOMKilled"
    plan = decide(job, pods(pod_body(0), killed), NOW)
    assert plan.status.failure is not None
    assert (plan.status.failure.reason, plan.status.failure.exit_code) == ("OOMKilled", 137)


def test_a_rank_that_exited_0_before_its_pod_is_succeeded_keeps_the_job_running() -> None:
    job = _running(_job())
    finishing = pod_body(0, phase="Running", running=False, exit_code=0)
    plan = decide(job, pods(finishing, pod_body(1)), NOW)
    assert plan.status.phase == "Running"


def test_within_one_second_the_killed_rank_is_the_cause_not_its_peers_errors() -> None:
    job = _running(_job({"restartPolicy": "ExitCode"}))
    peer = pod_body(0, phase="Failed", exit_code=1, message="llmtrain-trainer: TrainingError: rank 0: Connection reset")
    killed = pod_body(
        1, phase="Failed", exit_code=137, message="llmtrain-trainer: WorkerKilled: rank 1 was killed by SIGKILL"
    )
    killed["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"] = "2026-11-22T10:00:00Z"
    plan = decide(job, pods(peer, killed), NOW)
    assert plan.status.failure is not None and (plan.status.failure.rank, plan.status.failure.exit_code) == (1, 137)
    assert plan.status.phase == "Restarting", "the cause (137) is retried under ExitCode; the peer's 1 would not be"


def test_progress_after_a_restart_says_where_it_resumes() -> None:
    job = _running(_job())
    metrics = TrainerMetrics(
        {
            "llmtrain_step": 180.0,
            "llmtrain_total_steps": 300.0,
            "llmtrain_loss": 1.5,
            "llmtrain_tokens_per_second": 900.0,
            "llmtrain_tokens_total": 1000.0,
            "llmtrain_checkpoint_step": 150.0,
        }
    )
    running = _after(job, decide(job, pods(pod_body(0), pod_body(1)), NOW, metrics))
    failed = decide(running, pods(pod_body(0, phase="Failed", exit_code=1), pod_body(1)), NOW + timedelta(seconds=5))
    progress = failed.status.progress
    assert progress is not None and failed.status.phase == "Restarting"
    assert (progress.step, progress.resuming_from, progress.loss, progress.tokens_per_second, progress.eta) == (
        150,
        150,
        None,
        None,
        None,
    )
    # The new attempt's first figures replace the note.
    restarted = _after(running, failed)
    next_attempt = _after(restarted, decide(restarted, [], NOW + timedelta(seconds=10)))
    first = TrainerMetrics({**metrics.values, "llmtrain_step": 160.0})
    plan = decide(
        next_attempt, pods(pod_body(0, attempt=2), pod_body(1, attempt=2)), NOW + timedelta(seconds=30), first
    )
    assert plan.status.progress is not None
    assert (plan.status.progress.step, plan.status.progress.resuming_from) == (160, None)


def test_an_image_that_cannot_be_pulled_fails_the_job() -> None:
    job = _after(_job(), decide(_job(), [], NOW))
    stuck = pods(
        pod_body(0, phase="Pending", running=False, waiting="ImagePullBackOff", message="not found"), pod_body(1)
    )
    plan = decide(job, stuck, NOW)
    assert plan.status.phase == "Failed" and plan.status.failure is not None
    assert plan.status.failure.reason == "ImagePullBackOff"


def test_success_keeps_finished_pods_by_default_and_deletes_all_on_request() -> None:
    done = pods(pod_body(0, phase="Succeeded", exit_code=0), pod_body(1, phase="Succeeded", exit_code=0))
    job = _running(_job())
    plan = decide(job, done, NOW)
    assert plan.status.phase == "Succeeded" and plan.delete_pods == [] and plan.status.completion_time == NOW
    assert {c.type for c in plan.status.conditions or [] if c.status == "True"} >= {"Created", "Succeeded"}
    clean = _running(_job({"cleanPodPolicy": "All"}))
    assert sorted(decide(clean, done, NOW).delete_pods) == ["gpt-node-0", "gpt-node-1"]


def test_suspend_stops_the_pods_and_resume_starts_a_new_attempt() -> None:
    job = _running(_job())
    suspended_job = job.model_copy(
        update={
            "spec": job.spec.model_copy(update={"run_policy": job.spec.run_policy.model_copy(update={"suspend": True})})
        }
    )
    plan = decide(suspended_job, pods(pod_body(0), pod_body(1)), NOW)
    assert plan.status.phase == "Suspended" and sorted(plan.delete_pods) == ["gpt-node-0", "gpt-node-1"]
    resumed = decide(_after(job, plan), pods(pod_body(0, deleting=True)), NOW)
    assert resumed.status.attempt == 2 and resumed.create_ranks == [0, 1] and resumed.status.restarts == 0
    assert resumed.delete_pods == []
    assert [e.reason for e in resumed.events] == ["Resumed"]


def test_the_deadline_fails_a_job_that_runs_too_long() -> None:
    job = _running(_job({"activeDeadlineSeconds": 60}))
    assert decide(job, pods(pod_body(0), pod_body(1)), NOW + timedelta(seconds=59)).status.phase == "Running"
    plan = decide(job, pods(pod_body(0), pod_body(1)), NOW + timedelta(seconds=60))
    assert plan.status.phase == "Failed" and plan.status.failure is not None
    assert plan.status.failure.reason == "DeadlineExceeded"
    assert sorted(plan.delete_pods) == ["gpt-node-0", "gpt-node-1"]


def test_ttl_deletes_a_finished_job() -> None:
    job = _running(_job({"ttlSecondsAfterFinished": 30}))
    done = pods(pod_body(0, phase="Succeeded", exit_code=0), pod_body(1, phase="Succeeded", exit_code=0))
    finished = _after(job, decide(job, done, NOW))
    assert decide(finished, done, NOW + timedelta(seconds=29)).delete_job is False
    assert decide(finished, done, NOW + timedelta(seconds=30)).delete_job is True


def test_a_pod_lost_while_the_gang_runs_restarts_it() -> None:
    job = _running(_job({"recovery": "Gang"}))
    plan = decide(job, pods(pod_body(0)), NOW)
    assert plan.status.phase == "Restarting" and plan.status.failure is not None
    assert (plan.status.failure.reason, plan.status.failure.rank) == ("PodLost", 1)
    assert plan.create_ranks == []


def test_pods_of_older_attempts_are_deleted() -> None:
    job = _running(_job(), attempt=2, restarts=1)
    plan = decide(job, pods(pod_body(0, 2), pod_body(1, 2), pod_body(1, 1, phase="Failed", exit_code=1)), NOW)
    assert plan.delete_pods == ["gpt-node-1"] and plan.status.phase == "Running"


def test_an_elastic_job_scales_with_nodes() -> None:
    elastic = {"minNodes": 1, "maxNodes": 3}
    job = _running(_job(elastic=elastic))
    grown = job.model_copy(update={"spec": job.spec.model_copy(update={"nodes": 3})})
    assert decide(grown, pods(pod_body(0), pod_body(1)), NOW).create_ranks == [2]
    shrunk = job.model_copy(update={"spec": job.spec.model_copy(update={"nodes": 1})})
    plan = decide(shrunk, pods(pod_body(0), pod_body(1)), NOW)
    assert plan.delete_pods == ["gpt-node-1"] and plan.status.phase == "Running"
    stopped = pods(pod_body(0), pod_body(1, phase="Failed", exit_code=143))
    after_sigterm = decide(_after(shrunk, plan), stopped, NOW)
    assert (after_sigterm.status.phase, after_sigterm.status.attempt, after_sigterm.status.restarts) == (
        "Running",
        1,
        0,
    )
    assert after_sigterm.status.failure is None and after_sigterm.delete_pods == ["gpt-node-1"]


def test_progress_and_checkpoint_come_from_rank0_metrics() -> None:
    job = _running(_job())
    metrics = TrainerMetrics(
        {
            "llmtrain_step": 100.0,
            "llmtrain_total_steps": 1100.0,
            "llmtrain_loss": 2.5,
            "llmtrain_tokens_per_second": 1000.0,
            "llmtrain_tokens_total": 100_000.0,
            "llmtrain_mfu": 0.4,
            "llmtrain_checkpoint_step": 50.0,
        }
    )
    plan = decide(job, pods(pod_body(0), pod_body(1)), NOW, metrics)
    progress, checkpoint = plan.status.progress, plan.status.checkpoint
    assert progress is not None and checkpoint is not None
    assert (progress.step, progress.total_steps, progress.loss, progress.mfu) == (100, 1100, 2.5, 0.4)
    assert progress.eta == "16m", "1000 steps x 1000 tokens at 1000 tokens/s: 1000 s, written as kubectl writes an age"
    assert (checkpoint.step, checkpoint.path, checkpoint.saved_at) == (50, "/ckpt/ml/gpt/step-00000050", NOW)
    later = decide(
        _after(job, plan),
        pods(pod_body(0), pod_body(1)),
        NOW + timedelta(minutes=1),
        TrainerMetrics({**metrics.values, "llmtrain_step": 0.0}),
    )
    assert later.status.progress == progress, "a fresh attempt that has not stepped yet keeps the last progress"
    assert later.status.checkpoint is not None and later.status.checkpoint.saved_at == NOW


def test_deciding_again_changes_nothing() -> None:
    job = _running(_job())
    plan = decide(job, pods(pod_body(0), pod_body(1)), NOW + timedelta(minutes=5))
    assert plan.events == [] and plan.create_ranks == [] and plan.delete_pods == []
    assert plan.status == job.status


def test_success_reports_the_last_step_and_checkpoint_of_the_built_in_trainer() -> None:
    job = _running(_job(trainer={**SPEC["trainer"], "schedule": {"steps": 300}}))
    metrics = TrainerMetrics(
        {
            "llmtrain_step": 280.0,
            "llmtrain_total_steps": 300.0,
            "llmtrain_loss": 0.8,
            "llmtrain_checkpoint_step": 250.0,
        }
    )
    running = _after(job, decide(job, pods(pod_body(0), pod_body(1)), NOW, metrics))
    done = pods(pod_body(0, phase="Succeeded", exit_code=0), pod_body(1, phase="Succeeded", exit_code=0))
    plan = decide(running, done, NOW + timedelta(seconds=5))
    progress, checkpoint = plan.status.progress, plan.status.checkpoint
    assert progress is not None and (progress.step, progress.total_steps, progress.loss, progress.eta) == (
        300,
        300,
        0.8,
        "0s",
    )
    assert checkpoint is not None and (checkpoint.step, checkpoint.path) == (300, "/ckpt/ml/gpt/step-00000300")


def test_a_custom_command_gets_no_invented_progress() -> None:
    job = _running(_job(command=["x.py"], trainer=None))
    done = pods(pod_body(0, phase="Succeeded", exit_code=0), pod_body(1, phase="Succeeded", exit_code=0))
    plan = decide(job, done, NOW)
    assert plan.status.phase == "Succeeded" and plan.status.progress is None and plan.status.checkpoint is None


def _restarted(count: int, node_rank: int = 1) -> TrainerMetrics:
    cause = RestartCause(node_rank, "WorkerKilled", f"rank {node_rank} was killed by SIGKILL")
    return TrainerMetrics({"llmtrain_step": 50.0, "llmtrain_restarts_in_place": float(count)}, cause)


def test_a_restart_in_place_is_counted_once_named_and_keeps_the_pods() -> None:
    job = _running(_job({"backoffLimit": 3}))
    both = pods(pod_body(0), pod_body(1))
    plan = decide(job, both, NOW + timedelta(seconds=10), _restarted(1))
    status = plan.status
    assert (status.phase, status.restarts, status.restarts_in_place, status.attempt) == ("Running", 0, 1, 1)
    assert plan.delete_pods == [] and plan.create_ranks == []
    assert status.failure is not None
    assert (status.failure.reason, status.failure.rank, status.failure.pod) == ("WorkerKilled", 1, "gpt-node-1")
    assert [(e.reason, e.message) for e in plan.events] == [
        (
            "RestartedInPlace",
            "WorkerKilled on rank 1 (gpt-node-1): rank 1 was killed by SIGKILL; the training processes "
            "restarted inside the running pods (restart 1 of 3)",
        )
    ]
    again = decide(_after(job, plan), both, NOW + timedelta(seconds=20), _restarted(1))
    assert again.events == [] and again.status.restarts_in_place == 1, "the same report is counted once"


def test_restarts_in_place_and_of_the_gang_share_the_backoff_limit() -> None:
    job = _running(_job({"backoffLimit": 2}), attempt=2, restarts=1)
    both = pods(pod_body(0, attempt=2), pod_body(1, attempt=2))
    one = _after(job, decide(job, both, NOW, _restarted(1)))
    assert one.status is not None and (one.status.phase, one.status.restarts_in_place) == ("Running", 1)
    over = decide(one, both, NOW + timedelta(seconds=10), _restarted(2, node_rank=0))
    assert over.status.phase == "Failed" and over.status.failure is not None
    assert over.status.failure.reason == "BackoffLimitExceeded"
    assert over.status.failure.message.endswith("gave up after 3 restarts (backoffLimit 2)")
    # A pod that fails after the restarts in place used the budget ends the job too.
    failed = decide(one, pods(pod_body(0, attempt=2, phase="Failed", exit_code=1), pod_body(1, attempt=2)), NOW)
    assert failed.status.phase == "Failed" and failed.status.failure is not None
    assert failed.status.failure.reason == "BackoffLimitExceeded"


def _evicted(rank: int, **changes: Any) -> dict[str, Any]:
    body = pod_body(rank, **changes)
    body["metadata"]["deletionTimestamp"] = "2026-11-22T12:00:00Z"
    body["status"]["conditions"] = [
        {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"},
        *body["status"].get("conditions", []),
    ]
    return body


def test_a_pod_the_cluster_takes_away_restarts_the_gang_without_using_the_restart_budget() -> None:
    job = _running(_job({"backoffLimit": 0, "recovery": "Gang"}))
    plan = decide(job, pods(pod_body(0), _evicted(1)), NOW)
    status = plan.status
    assert (status.phase, status.restarts, status.preemptions) == ("Restarting", 0, 1)
    assert status.failure is not None and (status.failure.reason, status.failure.rank) == ("EvictionByEvictionAPI", 1)
    assert plan.delete_pods == ["gpt-node-0"] and not plan.stop_at_once, "the survivors save with their grace period"
    assert [e.reason for e in plan.events] == ["Preempted"]
    # Rank 0 exits 143 after the gang's last checkpoint: an effect, no second restart.
    stopping = _after(job, plan)
    later = decide(stopping, pods(pod_body(0, phase="Failed", exit_code=143), _evicted(1)), NOW + timedelta(seconds=5))
    assert (later.status.phase, later.status.restarts, later.status.preemptions) == ("Restarting", 0, 1)
    assert not later.stop_at_once
    resumed = _after(stopping, decide(stopping, [], NOW + timedelta(seconds=30)))
    assert resumed.status is not None and (resumed.status.attempt, resumed.status.phase) == (2, "Pending")


def test_a_never_job_fails_when_the_cluster_takes_a_pod_away() -> None:
    job = _running(_job({"restartPolicy": "Never"}))
    plan = decide(job, pods(pod_body(0), _evicted(1)), NOW)
    assert plan.status.phase == "Failed" and plan.status.preemptions == 0


def test_a_job_whose_step_stops_advancing_restarts_as_hung() -> None:
    job = _running(_job({"hangTimeoutSeconds": 600, "backoffLimit": 2}))
    both = pods(pod_body(0), pod_body(1))
    stepping = _after(job, decide(job, both, NOW, TrainerMetrics({"llmtrain_step": 70.0})))
    same_step = TrainerMetrics({"llmtrain_step": 70.0})
    quiet = decide(stepping, both, NOW + timedelta(seconds=600), same_step)
    assert quiet.status.phase == "Running" and quiet.events == []
    hung = decide(_after(stepping, quiet), both, NOW + timedelta(seconds=601), same_step)
    assert (hung.status.phase, hung.status.restarts) == ("Restarting", 1)
    assert hung.status.failure is not None and hung.status.failure.reason == "Hung"
    assert hung.status.failure.message == "step 70 was the last; none came in 600s (runPolicy.hangTimeoutSeconds)"
    assert sorted(hung.delete_pods) == ["gpt-node-0", "gpt-node-1"] and hung.stop_at_once
    # A step that advances in time keeps the job running.
    moving = decide(
        _after(stepping, quiet), both, NOW + timedelta(seconds=601), TrainerMetrics({"llmtrain_step": 71.0})
    )
    assert moving.status.phase == "Running"


def test_an_attempt_that_never_reaches_its_first_step_restarts_as_hung() -> None:
    job = _running(_job({"startupTimeoutSeconds": 900}))
    both = pods(pod_body(0), pod_body(1))
    assert decide(job, both, NOW + timedelta(seconds=900)).status.phase == "Running"
    hung = decide(job, both, NOW + timedelta(seconds=901))
    assert hung.status.phase == "Restarting" and hung.status.failure is not None
    assert (
        hung.status.failure.message == "no step came in the 900s after every pod ran (runPolicy.startupTimeoutSeconds)"
    )


def test_a_custom_command_is_never_called_hung() -> None:
    job = _running(_job(trainer=None, command=["train.py"]))
    later = decide(job, pods(pod_body(0), pod_body(1)), NOW + timedelta(days=3))
    assert later.status.phase == "Running"


def test_a_lost_pod_of_a_job_recovering_in_place_is_replaced_alone() -> None:
    job = _running(_job({"backoffLimit": 0}))
    deleting = decide(job, pods(pod_body(0), pod_body(1, deleting=True)), NOW)
    status = deleting.status
    assert (status.phase, status.restarts, status.preemptions, status.pod_replacements) == ("Restarting", 0, 0, 0)
    assert deleting.delete_pods == [] and deleting.create_ranks == [], "rank 0 stays; rank 1's name is still taken"
    assert status.failure is not None and (status.failure.reason, status.failure.pod) == ("PodLost", "gpt-node-1")
    assert [e.reason for e in deleting.events] == ["ReplacingPod"]
    gone = decide(_after(job, deleting), pods(pod_body(0)), NOW + timedelta(seconds=5))
    assert (gone.create_ranks, gone.delete_pods, gone.events) == ([1], [], [])
    assert (gone.status.phase, gone.status.pod_replacements, gone.status.restarts) == ("Restarting", 1, 0)
    starting = _after(_after(job, deleting), gone)
    new_pod = pods(pod_body(0), pod_body(1, phase="Pending", running=False))
    waiting = decide(starting, new_pod, NOW + timedelta(seconds=8))
    assert (waiting.status.phase, waiting.create_ranks, waiting.delete_pods) == ("Restarting", [], [])
    back = decide(_after(starting, waiting), pods(pod_body(0), pod_body(1)), NOW + timedelta(seconds=12))
    assert back.status.phase == "Running" and back.status.attempt == 1 and back.status.pod_replacements == 1
    restarting = next(c for c in back.status.conditions or [] if c.type == "Restarting")
    assert restarting.status == "False"


def test_an_evicted_pod_of_a_job_recovering_in_place_is_replaced_as_a_preemption() -> None:
    job = _running(_job({"backoffLimit": 0}))
    plan = decide(job, pods(pod_body(0), _evicted(1)), NOW)
    assert (plan.status.phase, plan.status.preemptions, plan.delete_pods) == ("Restarting", 1, [])
    assert plan.status.failure is not None and plan.status.failure.reason == "EvictionByEvictionAPI"
    # A kubelet's eviction leaves the pod Failed, not deleting: it goes, so that its name is free.
    kubelet = pods(pod_body(0), pod_body(1, phase="Failed", pod_reason="Evicted", running=False))
    evicted = decide(_after(job, plan), kubelet, NOW + timedelta(seconds=1))
    assert evicted.delete_pods == ["gpt-node-1"] and evicted.status.phase == "Restarting"


def test_rank_0_lost_restarts_the_gang_even_in_place() -> None:
    job = _running(_job())
    plan = decide(job, pods(pod_body(0, deleting=True), pod_body(1)), NOW)
    assert plan.status.phase == "Restarting" and plan.status.restarts == 1
    assert plan.delete_pods == ["gpt-node-1"] and plan.create_ranks == []


def test_a_replacement_that_does_not_run_in_time_restarts_the_gang() -> None:
    job = _running(_job({"backoffLimit": 3}))
    replacing = _after(job, decide(job, pods(pod_body(0)), NOW))
    replacing = _after(replacing, decide(replacing, pods(pod_body(0)), NOW))
    pending = pods(pod_body(0), pod_body(1, phase="Pending", running=False, unschedulable="0/2 nodes are available"))
    still = decide(replacing, pending, NOW + timedelta(seconds=600))
    assert still.status.phase == "Restarting" and still.delete_pods == []
    late = decide(replacing, pending, NOW + timedelta(seconds=601))
    assert (late.status.phase, late.status.restarts) == ("Restarting", 1)
    assert late.status.failure is not None and late.status.failure.reason == "ReplacementTimedOut"
    assert late.status.failure.message == "rank(s) 1 did not run again within 600s of being replaced"
    assert sorted(late.delete_pods) == ["gpt-node-0", "gpt-node-1"]


def test_a_job_suspended_while_a_pod_is_replaced_starts_its_next_attempt_whole() -> None:
    job = _running(_job())
    replacing = _after(job, decide(job, pods(pod_body(0)), NOW))
    suspend = replacing.model_copy(
        update={
            "spec": replacing.spec.model_copy(
                update={"run_policy": replacing.spec.run_policy.model_copy(update={"suspend": True})}
            )
        }
    )
    suspended = _after(suspend, decide(suspend, pods(pod_body(0)), NOW))
    resumed = suspended.model_copy(update={"spec": replacing.spec})
    plan = decide(resumed, [], NOW + timedelta(seconds=5))
    assert (plan.status.phase, plan.status.attempt, plan.create_ranks) == ("Pending", 2, [0, 1])
    assert plan.status.pod_replacements == 1


def _forward(seconds: dict[int, float]) -> TrainerMetrics:
    return TrainerMetrics({"llmtrain_step": 50.0}, None, seconds)


def test_a_rank_slower_than_the_others_by_the_factor_is_named_with_its_pod_and_node() -> None:
    job = _running(_job({"stragglerFactor": 2}, procsPerNode=2, nodes=2))
    on_nodes = pods(pod_body(0), pod_body(1))
    on_nodes[1] = dataclasses.replace(on_nodes[1], node="node-b")
    even = decide(job, on_nodes, NOW, _forward({0: 0.010, 1: 0.011, 2: 0.012, 3: 0.019}))
    assert even.status.stragglers is None and even.events == []
    slow = decide(job, on_nodes, NOW, _forward({0: 0.010, 1: 0.011, 2: 0.030, 3: 0.012}))
    assert slow.status.stragglers is not None
    [straggler] = slow.status.stragglers
    assert (straggler.rank, straggler.pod, straggler.node, straggler.slowdown) == (2, "gpt-node-1", "node-b", 2.7)
    assert [(e.type, e.reason, e.message) for e in slow.events] == [
        (
            "Warning",
            "Straggler",
            "rank 2 (gpt-node-1 on node node-b) takes 2.7x the median time of the other ranks for its forward "
            "passes (runPolicy.stragglerFactor 2.0): every step waits for it",
        )
    ]
    still = decide(
        _after(job, slow), on_nodes, NOW + timedelta(seconds=30), _forward({0: 0.01, 1: 0.01, 2: 0.03, 3: 0.01})
    )
    assert still.events == [] and still.status.stragglers is not None
    assert still.status.stragglers[0].since == NOW and still.status.stragglers[0].slowdown == 3.0
    recovered = decide(
        _after(job, still), on_nodes, NOW + timedelta(seconds=60), _forward({0: 0.01, 1: 0.01, 2: 0.01, 3: 0.01})
    )
    assert recovered.status.stragglers is None
    assert [e.reason for e in recovered.events] == ["StragglerRecovered"]


def test_a_custom_command_reports_no_stragglers() -> None:
    job = _running(_job(command=["x.py"], trainer=None))
    plan = decide(job, pods(pod_body(0), pod_body(1)), NOW, _forward({0: 0.01, 1: 0.09}))
    assert plan.status.stragglers is None


def test_a_peer_deleted_after_rank_0_finished_the_trainer_takes_nothing_away() -> None:
    job = _running(_job())
    late = pods(pod_body(0, phase="Succeeded", exit_code=0), pod_body(1, deleting=True))
    plan = decide(job, late, NOW)
    assert (plan.status.phase, plan.status.restarts, plan.status.pod_replacements) == ("Succeeded", 0, 0)
    assert plan.create_ranks == []
    gone = decide(job, pods(pod_body(0, phase="Succeeded", exit_code=0)), NOW)
    assert gone.status.phase == "Succeeded" and gone.create_ranks == []
    failed = decide(
        job, pods(pod_body(0, phase="Succeeded", exit_code=0), pod_body(1, phase="Failed", exit_code=1)), NOW
    )
    assert failed.status.phase == "Restarting", "a rank that failed is still a failure"
    finishing = decide(job, pods(pod_body(0, phase="Succeeded", exit_code=0), pod_body(1)), NOW)
    assert finishing.status.phase == "Running", "a peer still running is waited for"
