"""The jobs the SDK and CLI tests run: tiny, CPU-only, a few seconds of work each."""

from __future__ import annotations

from llmtrain import LLMTrainingJob

TINY_ARGS = [
    "--model", "test", "--gpus", "0", "--nodes", "2", "--steps", "12", "--seq-len", "32", "--micro-batch-size", "4",
    "--data", "/data/tokens.bin", "--mount", "/data=tiny-data",
    "--set", "trainer.logging.interval=2", "--set", "trainer.data.numWorkers=0",
    "--set", "trainer.eval.steps=1", "--set", "trainer.checkpoint.exportHuggingFace=false",
]
"""`llmtrain generate pretrain NAME ...` options of the tiny CPU pretraining job."""


def tiny_pretrain(name: str, **labels: str) -> LLMTrainingJob:
    """The tiny CPU pretraining job: the `test` preset, 2 nodes x 1 process, gloo, 12 steps."""
    return LLMTrainingJob.pretrain(
        name, model="test", data="/data/tokens.bin", nodes=2, gpus=0, steps=12, seq_len=32, micro_batch_size=4,
        mounts={"/data": "tiny-data"}, labels=labels,
        spec={"trainer": {"logging": {"interval": 2}, "data": {"numWorkers": 0}, "eval": {"steps": 1},
                          "checkpoint": {"exportHuggingFace": False}}},
    )


def python_job(name: str, code: str, *, nodes: int = 2, restart_policy: str = "Never", backoff_limit: int = 0) -> LLMTrainingJob:
    """A custom job whose every rank runs `python -c code` under torchrun."""
    return LLMTrainingJob.custom(
        name, "python:3.11", ["--no-python", "python", "-c", code], nodes=nodes, gpus=0, backoff_limit=backoff_limit,
        spec={"runPolicy": {"restartPolicy": restart_policy}},
    )
