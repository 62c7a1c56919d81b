"""Fixtures: the token corpus and the reference runs that several tests compare against.

The corpus is a Markov chain in which each token has four likely successors, so the loss
has a long way to fall from ln(512) towards ln(4).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from integration.trainer.runs import VOCAB, Launcher, Run, base_config, run_to_end, write_config


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    successors = rng.integers(0, VOCAB, size=(VOCAB, 4))
    tokens = np.zeros(100_000, dtype=np.uint16)
    choices = rng.integers(0, 4, size=len(tokens))
    for i in range(1, len(tokens)):
        tokens[i] = successors[tokens[i - 1], choices[i]]
    path = tmp_path_factory.mktemp("corpus") / "tokens.bin"
    tokens.tofile(path)
    return path


@pytest.fixture(scope="session")
def launch(corpus: Path) -> Launcher:
    """Run the trainer to completion: launch(run_dir, nproc, **config changes)."""

    def run(run_dir: Path, nproc: int, edit: Callable[[dict[str, Any]], None] | None = None) -> Run:
        config = base_config(corpus, run_dir)
        if edit is not None:
            edit(config)
        return run_to_end(write_config(run_dir, config), run_dir, nproc)

    return run


@pytest.fixture(scope="session")
def single_run(launch: Launcher, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The reference: one process, four micro-batches of gradient accumulation."""
    return launch(tmp_path_factory.mktemp("single"), 1, lambda c: c["parallelism"].update(strategy="ddp"))


@pytest.fixture(scope="session")
def ddp_run(launch: Launcher, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return launch(tmp_path_factory.mktemp("ddp"), 2, lambda c: c["parallelism"].update(strategy="ddp"))


@pytest.fixture(scope="session")
def fsdp_run(launch: Launcher, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return launch(tmp_path_factory.mktemp("fsdp"), 2)
