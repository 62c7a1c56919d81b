"""The operator reads what the trainer's exporter serves: both sides of the metrics contract."""

from __future__ import annotations

from prometheus_client import generate_latest

from llmtrain_operator.progress import RestartCause
from llmtrain_operator.scrape import parse_metrics
from llmtrain_trainer.metrics import PrometheusExporter


def test_every_rank_s_forward_seconds_and_the_last_restart_come_through() -> None:
    exporter = PrometheusExporter()
    exporter.rank_forward_seconds([0.012, 0.05, 0.011])
    exporter.restarted(2, 1, "WorkerKilled", "rank 1 was killed by SIGKILL")
    exporter.checkpoint_step.set(40)
    metrics = parse_metrics(generate_latest(exporter.registry).decode())
    assert metrics.forward_seconds == {0: 0.012, 1: 0.05, 2: 0.011}
    assert metrics.last_restart == RestartCause(1, "WorkerKilled", "rank 1 was killed by SIGKILL")
    assert metrics.values["llmtrain_restarts_in_place"] == 2 and metrics.values["llmtrain_checkpoint_step"] == 40
    assert "llmtrain_rank_forward_seconds" not in metrics.values
