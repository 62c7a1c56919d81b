"""Following logs across a gang restart: the new attempt's pods have the same names."""

from __future__ import annotations

from integration.sdk.jobs import python_job
from llmtrain import TrainingClient

FLAKY = (
    "import os, sys, time\n"
    "attempt, rank = os.environ['LLMTRAIN_ATTEMPT'], os.environ['GROUP_RANK']\n"
    "print(f'attempt {attempt} rank {rank}', flush=True)\n"
    "time.sleep(2)\n"
    "sys.exit(1 if (attempt, rank) == ('1', '1') else 0)\n"
)


def test_follow_streams_every_rank_of_every_attempt_until_the_job_ends(client: TrainingClient) -> None:
    client.create(python_job("flaky", FLAKY, restart_policy="OnFailure", backoff_limit=1))
    said = {
        (line.attempt, line.rank, line.text)
        for line in client.logs("flaky", follow=True)
        if line.text.startswith("attempt")
    }
    assert said == {(a, r, f"attempt {a} rank {r}") for a in (1, 2) for r in (0, 1)}
    finished = client.get("flaky")
    assert finished.status is not None
    assert (finished.status.phase, finished.status.restarts) == ("Succeeded", 1)
