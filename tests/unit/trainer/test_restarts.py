"""Restart records through a real c10d TCPStore on loopback: what each failing agent writes
before it rejoins, and what rank 0 of the next round makes of it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from torch.distributed import TCPStore  # type: ignore[attr-defined]

from llmtrain_trainer.restarts import RestartRecord, cause, record_failure, rendezvous_store, take_restart


@pytest.fixture
def store() -> TCPStore:
    return TCPStore("127.0.0.1", 0, is_master=True, timeout=timedelta(seconds=10))


def _record(rank: int, killed: bool, timestamp: float, reason: str = "TrainingError") -> RestartRecord:
    return RestartRecord(rank, rank // 2, reason, f"rank {rank} failed", killed, timestamp)


def test_the_killed_rank_is_the_cause_though_its_peer_failed_first() -> None:
    peer = _record(0, killed=False, timestamp=99.0)
    killed = _record(1, killed=True, timestamp=100.0, reason="WorkerKilled")
    assert cause([peer, killed]) == killed
    assert cause([_record(3, False, 5.0), _record(2, False, 5.0), _record(1, False, 6.0)]).rank == 2


def test_rank_0_counts_a_round_that_follows_failures_once_and_names_its_cause(store: TCPStore) -> None:
    client = TCPStore("127.0.0.1", store.port, is_master=False, timeout=timedelta(seconds=10))
    assert take_restart(store) == (0, None), "the first round follows no failure"

    killed = _record(1, killed=True, timestamp=100.0, reason="WorkerKilled")
    record_failure(client, _record(0, killed=False, timestamp=100.0))
    record_failure(store, killed)
    assert take_restart(store) == (1, killed)
    assert take_restart(store) == (1, None), "a round after a membership change is no failure"

    record_failure(client, _record(0, killed=False, timestamp=200.0))
    count, second = take_restart(client)
    assert (count, second and second.timestamp) == (2, 200.0)


def test_a_round_after_a_pod_was_stopped_on_purpose_is_not_counted(store: TCPStore) -> None:
    # Rank 1's pod was deleted: every worker saved a checkpoint and exited 143 (Stopped).
    record_failure(store, _record(0, killed=False, timestamp=100.0, reason="Stopped"))
    assert take_restart(store) == (0, None)
    record_failure(store, _record(0, killed=False, timestamp=200.0))
    assert take_restart(store)[0] == 1, "a failure after it still counts"


def test_the_store_is_the_agents_c10d_rendezvous(store: TCPStore) -> None:
    assert rendezvous_store({"PET_RDZV_BACKEND": "static", "PET_RDZV_ENDPOINT": "x:1"}) is None
    assert rendezvous_store({}) is None
    client = rendezvous_store({"PET_RDZV_BACKEND": "c10d", "PET_RDZV_ENDPOINT": f"127.0.0.1:{store.port}"})
    assert client is not None
    record_failure(client, _record(4, killed=True, timestamp=1.0))
    assert take_restart(store)[1] == _record(4, killed=True, timestamp=1.0)
