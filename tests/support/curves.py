"""The loss curve of the tests' tiny trainer job run without a failure, for the tests that
disturb the same job and check that it resumes on that curve (a pytest plugin: the
`undisturbed` fixture runs the job once per session)."""

from __future__ import annotations

import re

import pytest

from support.job_helpers import phase_is, submit, tiny_trainer_job, wait_for_status, write_token_corpus
from support.operator_fixture import RunningOperator
from testenv.controlplane import ControlPlane

STEPS = 300
"""The steps of every job compared with the undisturbed one: the learning-rate schedule
depends on them."""
_LOSS_LINE = re.compile(r"step (\d+)/\d+ \| loss ([\d.]+)")
_RESUMED = re.compile(r"resumed from \S+ at step (\d+)")


def losses(log: str) -> dict[int, float]:
    """Logged training loss by step; where steps were trained again, the later run's."""
    return {int(step): float(loss) for step, loss in _LOSS_LINE.findall(log)}


@pytest.fixture(scope="session")
def undisturbed(
    running_operator: RunningOperator, control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> dict[int, float]:
    """The losses by step of `tiny_trainer_job(steps=STEPS)` run to the end without a failure.
    Its namespace goes at once: tests that count the cluster's jobs must not see it."""
    namespace = control_plane.create_namespace("undisturbed")
    data = write_token_corpus(tmp_path_factory.mktemp("calm-data")).parent
    try:
        submit(control_plane, namespace, tiny_trainer_job("calm", data, tmp_path_factory.mktemp("calm"), steps=STEPS))
        final = wait_for_status(control_plane, namespace, "calm", phase_is("Succeeded", "Failed"), "the job to end")
        assert final["phase"] == "Succeeded", final
        return losses(control_plane.kubectl("-n", namespace, "logs", "calm-node-0").stdout)
    finally:
        control_plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def assert_resumed_on_the_same_curve(log: str, undisturbed: dict[int, float], checkpoint: int) -> int:
    """Rank 0's log resumed from `checkpoint` or later, and every loss it logged after the
    resume is the undisturbed run's; the step it resumed from."""
    resumed = _RESUMED.findall(log)
    assert resumed, "no rank 0 log line says where it resumed"
    step = int(resumed[-1])
    assert step >= checkpoint, (step, checkpoint)
    after = {s: loss for s, loss in losses(log).items() if s > step}
    assert after and STEPS in after, "rank 0 logged no loss after the resume"
    assert after == pytest.approx({s: undisturbed[s] for s in after}, abs=2e-4)
    return step
