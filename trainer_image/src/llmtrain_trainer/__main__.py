"""Entry point: `torchrun -m llmtrain_trainer --config /etc/llmtrain/config.json`.

Exit code 0 when training finished, 143 after a SIGTERM (with a checkpoint saved), and
1 otherwise, with the reason as the last line on stderr and, in a pod, in the
container's termination message. That line reads `llmtrain-trainer: invalid config: ...`
when the job as written cannot run (the operator does not retry it), and
`llmtrain-trainer: error: ...` for anything else.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from pathlib import Path

from llmtrain_trainer.config import RunEnv, load_config
from llmtrain_trainer.distributed import init_runtime, shutdown
from llmtrain_trainer.errors import TrainerError
from llmtrain_trainer.train import Trainer

TERMINATION_LOG = Path("/dev/termination-log")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llmtrain_trainer", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("/etc/llmtrain/config.json"),
                        help="the trainer config: spec.trainer of the LLMTrainingJob as JSON")
    args = parser.parse_args(argv)
    rank = os.environ.get("RANK", "0")
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s [rank {rank}] %(levelname)s %(message)s",
                        stream=sys.stdout)
    try:
        config = load_config(args.config)
        return Trainer(config, RunEnv.from_environ(os.environ, config), init_runtime()).run()
    except TrainerError as e:
        return fail(str(e), kind="invalid config")
    except Exception as e:  # noqa: BLE001 - the one place that turns any failure into an exit code
        traceback.print_exc()
        return fail(f"{type(e).__name__}: {e}".splitlines()[0])
    finally:
        shutdown()


def fail(reason: str, kind: str = "error") -> int:
    """Report the one-line reason where a person and the operator will look."""
    print(f"llmtrain-trainer: {kind}: {reason}", file=sys.stderr, flush=True)
    if TERMINATION_LOG.exists() and os.access(TERMINATION_LOG, os.W_OK):
        TERMINATION_LOG.write_text(reason + "\n", encoding="utf-8")
    return 1


if __name__ == "__main__":
    sys.exit(main())
