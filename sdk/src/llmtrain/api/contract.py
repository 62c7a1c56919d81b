"""What the operator, the trainer and the SDK agree on besides the resource itself: the
environment of a training container, the layout of a job's checkpoint directory, and
how the trainer tells why it stopped. Each name is defined here once; every side imports it.
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass

ENV_JOB_NAME = "LLMTRAIN_JOB_NAME"
ENV_JOB_NAMESPACE = "LLMTRAIN_JOB_NAMESPACE"
ENV_JOB_UID = "LLMTRAIN_JOB_UID"
"""The job's metadata.uid: the owner recorded beside its checkpoints."""
ENV_ATTEMPT = "LLMTRAIN_ATTEMPT"
ENV_CHECKPOINT_DIR = "LLMTRAIN_CHECKPOINT_DIR"
"""The job's own checkpoint directory, `job_checkpoint_dir` of spec.checkpoint.path."""
ENV_METRICS_PORT = "LLMTRAIN_METRICS_PORT"
DEFAULT_METRICS_PORT = 9400
ENV_HANG_TIMEOUT = "LLMTRAIN_HANG_TIMEOUT_SECONDS"
"""runPolicy.hangTimeoutSeconds with its default: the timeout of the trainer's collectives."""
DEFAULT_HANG_TIMEOUT_SECONDS = 1800
ENV_RESTARTS_IN_PLACE = "LLMTRAIN_RESTARTS_IN_PLACE"
"""status.restartsInPlace when the pod was made: rank 0 reports this plus the attempt's own."""

# --- training-process restarts inside running pods ------------------------------------

METRIC_RESTARTS_IN_PLACE = "llmtrain_restarts_in_place"
"""Rank 0's gauge: training-process restarts of the job so far (status.restartsInPlace)."""
METRIC_LAST_RESTART = "llmtrain_last_restart_info"
"""Rank 0's gauge, 1 with labels `node_rank`, `reason` and `summary`: the cause of the last restart."""


def worker_process_name(rank: int) -> str:
    """The name (`/proc/PID/comm`, what `ps` and `top` show) a training process of global rank
    `rank` gives itself: forked from the launcher's fork server, its command line is the fork
    server's."""
    return f"llmtrain-r{rank}"


# --- stragglers ----------------------------------------------------------------

METRIC_RANK_FORWARD_SECONDS = "llmtrain_rank_forward_seconds"
"""Rank 0's gauge, labelled `rank`: each rank's median forward-pass seconds per step over its last 50 steps."""


# --- checkpoints ----------------------------------------------------------------

STEP_DIR = re.compile(r"^step-(\d+)$")
OWNER_FILE = "llmtrain-owner.json"
"""Beside the step directories: the namespace, name and uid of the job that writes them."""
MANIFEST_FILE = "llmtrain-manifest.json"
"""Inside a step directory, written last: every file of the checkpoint with its size."""
HF_EXPORT_DIR = "hf"


def job_checkpoint_dir(mount_path: str, namespace: str, name: str) -> str:
    """`<spec.checkpoint.path>/<namespace>/<job name>`: one directory per job on a shared volume."""
    return f"{mount_path.rstrip('/')}/{namespace}/{name}"


def step_dir_name(step: int) -> str:
    """`step-00000300`: sorts by name in step order."""
    return f"step-{step:08d}"


def step_path(checkpoint_dir: str, step: int) -> str:
    """Where the checkpoint of `step` lives inside the pods."""
    return f"{checkpoint_dir.rstrip('/')}/{step_dir_name(step)}"


# --- why the trainer stopped ------------------------------------------------------

TERMINATION_LOG = "/dev/termination-log"
TERMINATION_MESSAGE_LIMIT = 4096
"""Bytes of the termination file a kubelet keeps (MaxContainerTerminationMessageLength)."""
REPORT_PREFIX = "llmtrain-trainer: "

INVALID_CONFIG = "InvalidConfig"
"""The job as written cannot run: a field names a missing file, a tokenizer that does not parse, ..."""
CHECKPOINT_OWNED_BY_ANOTHER_JOB = "CheckpointOwnedByAnotherJob"
"""The job's checkpoint directory holds another job's checkpoints."""
NO_LOADABLE_CHECKPOINT = "NoLoadableCheckpoint"
"""Checkpoints exist but none of them loads."""
TRAINING_ERROR = "TrainingError"
"""An exception in a training process (retryable: NCCL, CUDA, a flaky file system...)."""
WORKER_KILLED = "WorkerKilled"
"""A training process was killed by a signal (SIGKILL: usually the out-of-memory killer)."""
STOPPED = "Stopped"
"""A training process saved a checkpoint with its peers and exited because a pod of the gang
was asked to stop (SIGTERM): its own, or a peer's that is being replaced. No failure."""
LAUNCH_ERROR = "LaunchError"
"""torchrun itself failed, e.g. the rendezvous timed out."""
PERMANENT_REASONS = frozenset({INVALID_CONFIG, CHECKPOINT_OWNED_BY_ANOTHER_JOB, NO_LOADABLE_CHECKPOINT})
"""Reasons no retry can fix: the operator fails the job at once."""

_ELLIPSIS = "…"


def text_end(text: str, limit: int) -> str:
    """`text` within `limit` UTF-8 bytes: whole when it fits, else `…` and its end (where a cause is)."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return _ELLIPSIS + data[-(limit - len(_ELLIPSIS.encode())) :].decode(errors="ignore")


SIGNAL_EXIT_BASE = 128
"""A process killed by signal N exits 128 + N, as a shell reports it."""
_SIGNAL_HINTS: dict[int, str] = {
    signal.SIGKILL: "probably out of memory (the kernel's OOM killer sends SIGKILL)",
    signal.SIGSEGV: "a crash in native code (CUDA, NCCL or an extension)",
    signal.SIGABRT: "aborted, e.g. by NCCL's watchdog after a failed collective",
    signal.SIGBUS: "often /dev/shm too small: raise spec.shmSize",
}


def killed_summary(who: str, signum: int) -> str:
    """`rank 3 was killed by SIGKILL, probably out of memory (...)`."""
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    hint = _SIGNAL_HINTS.get(signum)
    return f"{who} was killed by {name}" + (f", {hint}" if hint else "")


_REPORT_LINE = re.compile(re.escape(REPORT_PREFIX) + r"([A-Z][A-Za-z]+): (.*)$")


@dataclass(frozen=True)
class TrainerReport:
    """Why a training container stopped: a CamelCase reason, one line for people, and detail.

    Rendered as `llmtrain-trainer: <Reason>: <summary>` followed by the detail lines, into
    the container's termination file and at the end of its stderr, so the operator finds
    it whether the kubelet reports the file or the log tail.
    """

    reason: str
    summary: str
    detail: str = ""

    @property
    def permanent(self) -> bool:
        return self.reason in PERMANENT_REASONS

    @property
    def line(self) -> str:
        return f"{REPORT_PREFIX}{self.reason}: {self.summary}"

    def render(self, limit: int = TERMINATION_MESSAGE_LIMIT) -> str:
        """The report within `limit` bytes: the line whole, the detail's end (where the cause is)."""
        line = self.line.encode()[: limit - 1].decode(errors="ignore")
        room = limit - len(line.encode()) - 1
        detail = self.detail.strip()
        if not detail or room <= 1:
            return line
        return f"{line}\n{text_end(detail, room)}"

    @classmethod
    def parse(cls, text: str) -> TrainerReport | None:
        """The last report in a termination message or log tail, if there is one."""
        lines = text.strip().splitlines()
        for index in range(len(lines) - 1, -1, -1):
            match = _REPORT_LINE.search(lines[index])
            if match:
                return cls(match.group(1), match.group(2).strip(), "\n".join(lines[index + 1 :]).strip())
        return None
