"""The `llmtrain` command line: a kubectl-like view of LLMTrainingJobs, built on `TrainingClient`."""

from llmtrain.cli.app import cli, main

__all__ = ["cli", "main"]
