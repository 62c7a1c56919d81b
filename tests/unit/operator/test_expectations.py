"""Expectations hold a job back until the watch shows the pods just created or deleted."""

from __future__ import annotations

from llmtrain_operator.expectations import Expectations


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_creations_are_open_until_every_pod_is_seen() -> None:
    expectations: Expectations[str] = Expectations(timeout=60, clock=Clock())
    assert expectations.pending("job") == 0
    expectations.expect("job", "create", ["job-node-0", "job-node-1"])
    assert expectations.pending("job") == 60
    expectations.observe("job", "job-node-0", gone=False)
    assert expectations.pending("job") > 0
    expectations.observe("other", "job-node-1", gone=False)
    assert expectations.pending("job") > 0, "another job's pod closes nothing"
    expectations.observe("job", "job-node-1", gone=False)
    assert expectations.pending("job") == 0


def test_a_deletion_is_seen_only_when_the_pod_is_deleting_or_gone() -> None:
    expectations: Expectations[str] = Expectations(clock=Clock())
    expectations.expect("job", "delete", ["job-node-0"])
    expectations.observe("job", "job-node-0", gone=False)
    assert expectations.pending("job") > 0, "an update that still shows the pod alive is not the deletion"
    expectations.observe("job", "job-node-0", gone=True)
    assert expectations.pending("job") == 0


def test_a_cancelled_request_expects_nothing() -> None:
    expectations: Expectations[str] = Expectations(clock=Clock())
    expectations.expect("job", "create", ["job-node-0"])
    expectations.cancel("job", "job-node-0")
    assert expectations.pending("job") == 0


def test_expectations_lapse_after_the_timeout() -> None:
    clock = Clock()
    expectations: Expectations[str] = Expectations(timeout=60, clock=clock)
    expectations.expect("job", "create", ["job-node-0"])
    clock.now += 59
    assert expectations.pending("job") == 1
    clock.now += 2
    assert expectations.pending("job") == 0
    expectations.observe("job", "job-node-0", gone=False)
    assert expectations.pending("job") == 0


def test_forget_drops_a_deleted_job() -> None:
    expectations: Expectations[str] = Expectations(clock=Clock())
    expectations.expect("job", "create", ["job-node-0"])
    expectations.forget("job")
    assert expectations.pending("job") == 0
