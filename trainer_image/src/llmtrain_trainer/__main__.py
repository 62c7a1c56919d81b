"""Entry point of one training process: `python -m llmtrain_trainer --config FILE`, started
by `llmtrain-torchrun` (torchrun) in a pod, which forks it from a warm fork server
(`llmtrain_trainer.worker`) rather than running that command.

Exit code 0 when training finished, 143 after a SIGTERM (with a checkpoint saved when
the gang could still save one), and 1 otherwise with a `TrainerReport`: its line
(`llmtrain-trainer: <Reason>: <what happened>`) ends stderr, and the whole report goes
to torchrun's error file for this process (which `llmtrain-torchrun` turns into the
container's termination message) or, without torchrun, to /dev/termination-log.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
import traceback
from pathlib import Path

from torch.distributed.checkpoint.api import CheckpointException

from llmtrain.api.contract import TERMINATION_LOG, TRAINING_ERROR, TrainerReport, worker_process_name
from llmtrain.api.names import CONFIG_PATH
from llmtrain_trainer.config import RunEnv, load_config
from llmtrain_trainer.distributed import init_runtime, shutdown
from llmtrain_trainer.errors import TrainerError
from llmtrain_trainer.train import Trainer

ERROR_FILE_ENV = "TORCHELASTIC_ERROR_FILE"
"""Set by torchrun for each process: a JSON file it reads when the process fails."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llmtrain_trainer", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config",
        type=Path,
        default=Path(CONFIG_PATH),
        help="the trainer config: spec.trainer of the LLMTrainingJob as JSON",
    )
    args = parser.parse_args(argv)
    rank = os.environ.get("RANK", "0")
    name_process(worker_process_name(int(rank)))
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s [rank {rank}] %(levelname)s %(message)s", stream=sys.stdout
    )
    try:
        config = load_config(args.config)
        env = RunEnv.from_environ(os.environ, config)
        return Trainer(config, env, init_runtime(env.collective_timeout_seconds)).run()
    except TrainerError as e:
        return fail(TrainerReport(e.reason, str(e)))
    # CheckpointException derives from BaseException: a corrupt checkpoint must not escape as a bare crash.
    except (Exception, CheckpointException) as e:  # noqa: BLE001 - the one place that turns any failure into a report
        trace = traceback.format_exc()
        print(trace, file=sys.stderr, flush=True)
        return fail(TrainerReport(TRAINING_ERROR, f"{type(e).__name__}: {e}".splitlines()[0], trace))
    finally:
        shutdown()


def name_process(name: str) -> None:
    """Show `name` in `ps` and `top` instead of the interpreter's or the fork server's."""
    # Not Linux, or a /proc without it: only the display is lost.
    with contextlib.suppress(OSError):
        Path("/proc/self/comm").write_text(name, encoding="ascii")


def fail(report: TrainerReport) -> int:
    """Leave the report where torchrun, the kubelet and a person will look; exit code 1."""
    print(report.line, file=sys.stderr, flush=True)
    error_file = os.environ.get(ERROR_FILE_ENV)
    termination_log = Path(TERMINATION_LOG)
    if error_file:
        Path(error_file).write_text(
            json.dumps({"message": report.render(), "timestamp": int(time.time())}), encoding="utf-8"
        )
    elif termination_log.exists() and os.access(termination_log, os.W_OK):
        termination_log.write_text(report.render(), encoding="utf-8")
    return 1


if __name__ == "__main__":
    sys.exit(main())
