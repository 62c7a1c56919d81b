"""The entry point torchrun's agent forks a training process at, from `llmtrain-torchrun`'s
fork server. Small on purpose: the agent pickles a reference to it, and must not import the
trainer to do so; the fork server has the trainer imported before it forks."""

from __future__ import annotations

import multiprocessing
import sys


def run_worker(*argv: str) -> None:
    """One training process: the trainer's `main`, its code as the process's exit status."""
    from llmtrain_trainer.__main__ import main

    # A child of the fork server inherits its start method; the trainer's own processes (data
    # loader workers) start as they would in a fresh interpreter.
    multiprocessing.set_start_method(None, force=True)
    code = main(list(argv))
    if code:
        sys.exit(code)
