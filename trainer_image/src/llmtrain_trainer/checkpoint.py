"""Sharded checkpoints with torch.distributed.checkpoint (DCP), owned by one job.

Layout: the job's directory (`<spec.checkpoint.path>/<namespace>/<job>`, set by the operator)
holds `llmtrain-owner.json` (the job's namespace, name and uid) and one `step-00001000/`
per checkpoint (each rank writes its shards, rank 0 the `.metadata`). A checkpoint is
written to `step-N.tmp/`; once every rank has finished, rank 0 writes
`llmtrain-manifest.json` (every file with its size) and renames the directory. A save cut
short (SIGKILL, a node lost) leaves a `.tmp` that is never read, and a step directory is
trusted only when its manifest matches the files: resuming tries the newest intact one,
and falls back to older ones when a checkpoint is damaged or does not load.

A directory that records another job refuses to be resumed from or written to, so two jobs
on one volume never load or prune each other's checkpoints; `checkpoint.resumeFrom` starts
a job from another's checkpoint on purpose, reading it and never writing there.

State is saved under canonical parameter names (no DDP, FSDP, compile or checkpoint-wrapper
prefixes), which DCP reshards on load: a run resumes on another world size or from FSDP to
DDP and back. Everything is shared by all ranks except the random number generator states,
which are saved per rank; a rank that did not exist in the saved run keeps its freshly
seeded state.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.filesystem import FileSystemReader
from torch.distributed.checkpoint.state_dict import (
    get_model_state_dict,
    get_state_dict,
    set_model_state_dict,
    set_state_dict,
)
from torch.distributed.checkpoint.state_dict_loader import load as dcp_load
from torch.distributed.checkpoint.state_dict_saver import AsyncSaveResponse, async_save, save
from torch.distributed.checkpoint.stateful import Stateful

from llmtrain.api.contract import MANIFEST_FILE, OWNER_FILE, STEP_DIR, step_dir_name
from llmtrain_trainer.distributed import barrier, broadcast_from_main
from llmtrain_trainer.errors import CheckpointOwnedError

log = logging.getLogger("llmtrain_trainer")


class ModelAndOptimizer(Stateful):
    """Model and optimizer state under canonical names, sharded as they are trained."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.model = model
        self.optimizer = optimizer

    def state_dict(self) -> dict[str, Any]:
        model_state, optim_state = get_state_dict(self.model, self.optimizer)
        return {"model": model_state, "optim": optim_state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        set_state_dict(
            self.model, self.optimizer, model_state_dict=state_dict["model"], optim_state_dict=state_dict["optim"]
        )


class RngState(Stateful):
    """This rank's CPU and CUDA generator states."""

    def state_dict(self) -> dict[str, Any]:
        state = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        torch.set_rng_state(state_dict["cpu"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state(state_dict["cuda"])


def rng_key(rank: int) -> str:
    return f"rng_rank{rank}"


class ModelWeights(Stateful):
    """Only the model, under the same keys as `ModelAndOptimizer`: starting from another run's weights."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def state_dict(self) -> dict[str, Any]:
        return {"model": get_model_state_dict(self.model)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        set_model_state_dict(self.model, state_dict["model"])


@dataclass(frozen=True)
class Owner:
    """The job a checkpoint directory belongs to."""

    namespace: str
    name: str
    uid: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name} (uid {self.uid})"


def step_dirs(directory: Path) -> list[tuple[int, Path]]:
    """Step directories, finished or damaged (never `.tmp`), newest first."""
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := STEP_DIR.match(p.name)) and p.is_dir()]
    return sorted(found, reverse=True)


def is_checkpoint(path: Path) -> bool:
    """`path` is one checkpoint (a step directory), not a directory of them."""
    return (path / ".metadata").is_file() or (path / MANIFEST_FILE).is_file()


def write_manifest(directory: Path, step: int) -> None:
    """Record every file of a finished save with its size; written last, and synced."""
    files = {str(p.relative_to(directory)): p.stat().st_size for p in sorted(directory.rglob("*")) if p.is_file()}
    manifest = directory / MANIFEST_FILE
    with manifest.open("w", encoding="utf-8") as out:
        json.dump({"step": step, "files": files}, out, indent=1, sort_keys=True)
        out.flush()
        os.fsync(out.fileno())


def damage(directory: Path, manifest_required: bool = True) -> str | None:
    """Why the checkpoint in `directory` cannot be trusted; None when it is intact."""
    manifest = directory / MANIFEST_FILE
    if not manifest.is_file():
        if manifest_required or not (directory / ".metadata").is_file():
            return f"no {MANIFEST_FILE}: the save did not finish"
        return None
    try:
        files = dict(json.loads(manifest.read_text(encoding="utf-8"))["files"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"{MANIFEST_FILE} does not parse: {e}"
    for name, size in sorted(files.items()):
        path = directory / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != size:
            return f"{name} has {path.stat().st_size} bytes, {size} were written"
    return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def load_state(path: Path, state: dict[str, Any], rank: int) -> None:
    """Load `path` into `state` in place; the RNG entry is dropped when this rank has none saved."""
    saved = FileSystemReader(str(path)).read_metadata().state_dict_metadata
    key = rng_key(rank)
    wanted = {k: v for k, v in state.items() if k != key or any(s.startswith(key + ".") for s in saved)}
    dcp_load(wanted, checkpoint_id=path)


def load_newest_intact(
    candidates: list[Path], load: Callable[[Path], None], rank: int, manifest_required: bool = True
) -> tuple[Path | None, list[str]]:
    """Load the first candidate that is intact and loads; returns it and what was skipped, and why.

    Rank 0 judges each directory and every rank follows, so all ranks load the same one;
    a failed DCP load raises on every rank alike.
    """
    skipped: list[str] = []
    for path in candidates:
        problem = broadcast_from_main(damage(path, manifest_required) if rank == 0 else None)
        if problem is None:
            try:
                load(path)
                return path, skipped
            # Damage shows as anything from an unpickling error to DCP's CheckpointException (a
            # BaseException); every rank reads the same files, so every rank lands here alike.
            except (Exception, CheckpointException) as e:  # noqa: BLE001
                problem = f"does not load: {_first_line(e)}"
        log.warning("skipping checkpoint %s: %s", path, problem)
        skipped.append(f"{path.name}: {problem}")
    return None, skipped


class Checkpointer:
    """Saves, prunes and finds the checkpoints of one job's directory."""

    def __init__(self, directory: Path, keep: int, async_save: bool, rank: int) -> None:
        self.directory = directory
        self.keep = keep
        self.rank = rank
        self._pending: tuple[Future[Any], int] | None = None
        # Background saves run their collectives on a CPU group so they never queue
        # behind (or in front of) training's NCCL collectives.
        group = dist.new_group(backend="gloo") if async_save and dist.is_initialized() else None
        assert group is None or isinstance(group, dist.ProcessGroup)
        self._group = group
        self._async = async_save

    def claim(self, owner: Owner | None) -> None:
        """Make the directory this job's, or raise when it holds another job's checkpoints."""
        problem = broadcast_from_main(self._claim(owner) if self.rank == 0 else None)
        if problem is not None:
            raise CheckpointOwnedError(problem)

    def _claim(self, owner: Owner | None) -> str | None:
        if owner is None:
            return None
        marker = self.directory / OWNER_FILE
        fix = (
            f"set spec.trainer.checkpoint.resumeFrom to {self.directory} to start from them on purpose, "
            "or delete the directory to start over"
        )
        if marker.is_file():
            try:
                recorded = Owner(**json.loads(marker.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError) as e:
                return f"{marker} does not name a job ({e}); {fix}"
            if recorded.uid == owner.uid:
                return None
            return f"{self.directory} holds the checkpoints of job {recorded}, not of this job {owner}: {fix}"
        if step_dirs(self.directory):
            return f"{self.directory} holds checkpoints that no job claims (no {OWNER_FILE}): {fix}"
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = marker.with_name(marker.name + ".tmp")
        temporary.write_text(json.dumps(asdict(owner), indent=1), encoding="utf-8")
        temporary.rename(marker)
        return None

    def checkpoints(self) -> list[Path]:
        """The job's step directories, newest first, damaged ones included."""
        return [path for _, path in step_dirs(self.directory)]

    def save(self, step: int, state: dict[str, Any]) -> None:
        """Write `state` as the checkpoint of `step` (in the background with asyncSave)."""
        self.wait()
        final = self.directory / step_dir_name(step)
        # A damaged checkpoint of the same step (the run that wrote it died) is replaced.
        intact = broadcast_from_main(final.is_dir() and damage(final) is None if self.rank == 0 else False)
        if intact:
            return
        temporary = final.with_name(final.name + ".tmp")
        if self.rank == 0:
            shutil.rmtree(final, ignore_errors=True)
            shutil.rmtree(temporary, ignore_errors=True)
            temporary.mkdir(parents=True)
        barrier()
        if self._async:
            response = async_save(state, checkpoint_id=temporary, process_group=self._group)
            upload = response.upload_completion if isinstance(response, AsyncSaveResponse) else response
            self._pending = (upload, step)
        else:
            save(state, checkpoint_id=temporary)
            self._commit(step)

    def wait(self) -> None:
        """Finish a background save, if one is running."""
        if self._pending is not None:
            future, step = self._pending
            self._pending = None
            future.result()
            self._commit(step)

    def _commit(self, step: int) -> None:
        barrier()
        if self.rank == 0:
            final = self.directory / step_dir_name(step)
            temporary = final.with_name(final.name + ".tmp")
            write_manifest(temporary, step)
            temporary.rename(final)
            # Newer step directories are left from a run that died after them: they are
            # damaged (or resuming would have used them) and a later save replaces them.
            older = [path for saved, path in step_dirs(self.directory) if saved <= step]
            for old in older[self.keep :]:
                shutil.rmtree(old, ignore_errors=True)
