"""Training-process restarts inside running pods (runPolicy.recovery InPlace).

torchrun's agent restarts its node's workers when one of them fails, and every other node's
agent restarts its own when that node rejoins the rendezvous: the pods stay. The agents know
why; the operator reads only rank 0's metrics. So each agent whose workers failed appends a
record of its first cause to the rendezvous store before it rejoins (`record_failure`), and
the next round's rank 0 takes the round's records, counts the restart and names the cause in
its metrics (`take_restart`). A round that began because a pod was stopped on purpose (its
workers saved a checkpoint with their peers, which then stopped too) is no failure and is
not counted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import timedelta

from torch.distributed import Store, TCPStore  # type: ignore[attr-defined]  # re-exported from torch._C untyped

from llmtrain.api.contract import STOPPED

STORE_TIMEOUT = timedelta(seconds=30)
# Keys in the rendezvous store, which lives as long as the attempt: failure records are
# numbered by a counter of those written and consumed by one of those read.
_FAILURE = "llmtrain/restart-failure/"
_FAILURES_WRITTEN = "llmtrain/restart-failures-written"
_FAILURES_READ = "llmtrain/restart-failures-read"
_RESTARTS = "llmtrain/restarts"


@dataclass(frozen=True)
class RestartRecord:
    """Why one node's workers failed: the failed (global) rank, its node's rank, the report's
    reason and summary."""

    rank: int
    node_rank: int
    reason: str
    summary: str
    killed: bool
    """Killed by a signal: a cause, where the peers' failed collectives are its effects."""
    timestamp: float

    def line(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def parse(cls, line: str) -> RestartRecord:
        return cls(**json.loads(line))


def cause(records: list[RestartRecord]) -> RestartRecord:
    """The record that caused the round's other failures: a killed rank before one whose
    collective failed because its peer was gone, then the earliest."""
    return min(records, key=lambda r: (not r.killed, r.timestamp, r.rank))


def record_failure(store: Store, record: RestartRecord) -> None:
    """Add the record; an agent calls this before it rejoins the rendezvous."""
    index = int(store.add(_FAILURES_WRITTEN, 1))
    store.set(f"{_FAILURE}{index}", record.line())


def take_restart(store: Store) -> tuple[int, RestartRecord | None]:
    """Rank 0 at the start of a round: the failed rounds of this attempt so far and, when
    this round follows a failure, its cause. Every agent of the failed round wrote its record
    before it rejoined, and this round began only once all had, so the records are complete."""
    written, read = int(store.add(_FAILURES_WRITTEN, 0)), int(store.add(_FAILURES_READ, 0))
    if written == read:
        return int(store.add(_RESTARTS, 0)), None
    keys = [f"{_FAILURE}{index}" for index in range(read + 1, written + 1)]
    records = [RestartRecord.parse(store.get(key).decode()) for key in keys]
    store.add(_FAILURES_READ, written - read)
    for key in keys:
        store.delete_key(key)
    first = cause(records)
    if first.reason == STOPPED:
        # A pod was stopped on purpose (deleted, evicted) and is being replaced: no failure.
        return int(store.add(_RESTARTS, 0)), None
    return int(store.add(_RESTARTS, 1)), first


def rendezvous_store(environ: Mapping[str, str] = os.environ) -> TCPStore | None:
    """A client of the c10d rendezvous store of torchrun's agents, when they use one."""
    if environ.get("PET_RDZV_BACKEND") != "c10d" or not environ.get("PET_RDZV_ENDPOINT"):
        return None
    host, _, port = environ["PET_RDZV_ENDPOINT"].rpartition(":")
    return TCPStore(host, int(port), is_master=False, timeout=STORE_TIMEOUT)
