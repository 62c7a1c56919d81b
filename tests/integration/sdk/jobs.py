"""The jobs the SDK and CLI tests run: tiny, CPU-only, a few seconds of work each."""

from __future__ import annotations

from llmtrain import LLMTrainingJob

TINY_ARGS = [
    "--model",
    "test",
    "--gpus",
    "0",
    "--nodes",
    "2",
    "--steps",
    "20",
    "--seq-len",
    "32",
    "--micro-batch-size",
    "4",
    "--data",
    "/data/tokens.bin",
    "--mount",
    "/data=tiny-data",
    "--set",
    "trainer.logging.interval=5",
    "--set",
    "trainer.data.numWorkers=0",
    "--set",
    "trainer.eval.steps=1",
    "--set",
    "trainer.checkpoint.exportHuggingFace=false",
]
"""`llmtrain generate pretrain NAME ...` options of the tiny CPU pretraining job."""


def python_job(
    name: str, code: str, *, nodes: int = 2, restart_policy: str = "Never", backoff_limit: int = 0
) -> LLMTrainingJob:
    """A custom job whose every rank runs `python -c code` under torchrun."""
    return LLMTrainingJob.custom(
        name,
        "python:3.11",
        ["--no-python", "python", "-c", code],
        nodes=nodes,
        gpus=0,
        backoff_limit=backoff_limit,
        spec={"runPolicy": {"restartPolicy": restart_policy}},
    )
