"""Sharded checkpoints with torch.distributed.checkpoint (DCP).

Layout: `<dir>/step-00001000/` holds one DCP checkpoint (each rank writes its shards,
rank 0 the `.metadata`). A checkpoint is written to `step-N.tmp/` and renamed only after
every rank has finished, so a run killed mid-save leaves a `.tmp` directory that is never
read, and the latest `step-N/` always loads. State is saved under canonical parameter
names (no DDP, FSDP, compile or checkpoint-wrapper prefixes), which DCP reshards on
load: a run resumes on another world size or from FSDP to DDP and back.

Everything is shared by all ranks except the random number generator states, which are
saved per rank; a rank that did not exist in the saved run keeps its freshly seeded state.
"""

from __future__ import annotations

import re
import shutil
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.checkpoint.filesystem import FileSystemReader
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict
from torch.distributed.checkpoint.state_dict_loader import load
from torch.distributed.checkpoint.state_dict_saver import AsyncSaveResponse, async_save, save
from torch.distributed.checkpoint.stateful import Stateful

from llmtrain_trainer.distributed import barrier

_STEP_DIR = re.compile(r"^step-(\d+)$")


class ModelAndOptimizer(Stateful):
    """Model and optimizer state under canonical names, sharded as they are trained."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.model = model
        self.optimizer = optimizer

    def state_dict(self) -> dict[str, Any]:
        model_state, optim_state = get_state_dict(self.model, self.optimizer)
        return {"model": model_state, "optim": optim_state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        set_state_dict(self.model, self.optimizer, model_state_dict=state_dict["model"],
                       optim_state_dict=state_dict["optim"])


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


def step_dir(directory: Path, step: int) -> Path:
    return directory / f"step-{step:08d}"


def complete_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """Finished checkpoints, oldest first."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = _STEP_DIR.match(path.name)
        if match and (path / ".metadata").is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


class Checkpointer:
    """Saves, prunes and finds the checkpoints of one run directory."""

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

    def latest(self) -> tuple[int, Path] | None:
        """The newest complete checkpoint, if any."""
        found = complete_checkpoints(self.directory)
        return found[-1] if found else None

    def save(self, step: int, state: dict[str, Any]) -> None:
        """Write `state` as the checkpoint of `step` (in the background with asyncSave)."""
        self.wait()
        final = step_dir(self.directory, step)
        if final.exists():
            return
        temporary = final.with_name(final.name + ".tmp")
        if self.rank == 0:
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
            final = step_dir(self.directory, step)
            final.with_name(final.name + ".tmp").rename(final)
            for _, old in complete_checkpoints(self.directory)[: -self.keep]:
                shutil.rmtree(old, ignore_errors=True)

    def load(self, path: Path, state: dict[str, Any]) -> None:
        """Load `path` into `state` in place; the RNG entry is dropped when this rank has none saved."""
        saved = FileSystemReader(str(path)).read_metadata().state_dict_metadata
        key = rng_key(self.rank)
        wanted = {k: v for k, v in state.items() if k != key or any(s.startswith(key + ".") for s in saved)}
        load(wanted, checkpoint_id=path)
