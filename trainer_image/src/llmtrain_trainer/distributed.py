"""Processes, devices and the device mesh.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; each process drives the GPU of its local
rank with NCCL, or the CPU with gloo when there is no GPU. The mesh has three named
dimensions, outermost first: dp_replicate (DDP, or HSDP's replicas), dp_shard (FSDP, or
HSDP's shard groups) and tp, so tensor-parallel peers are neighbouring ranks (one node).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh

from llmtrain.api.trainer import ParallelismConfig
from llmtrain_trainer.errors import TrainerError

T = TypeVar("T")


@dataclass(frozen=True)
class ParallelDims:
    """Degrees of each kind of parallelism; their product is the world size."""

    dp_replicate: int
    dp_shard: int
    tp: int

    @property
    def dp(self) -> int:
        return self.dp_replicate * self.dp_shard

    @property
    def world_size(self) -> int:
        return self.dp * self.tp

    @staticmethod
    def from_config(config: ParallelismConfig, world_size: int, local_world_size: int) -> ParallelDims:
        """Split the world as the config asks, or explain why it cannot be split so."""
        tp = config.tensor_parallel
        if world_size % tp:
            raise TrainerError(f"tensorParallel {tp} does not divide the world size {world_size}")
        dp = world_size // tp
        if config.strategy == "ddp":
            if tp > 1:
                raise TrainerError("tensorParallel > 1 needs strategy fsdp or hsdp, not ddp")
            return ParallelDims(dp_replicate=dp, dp_shard=1, tp=tp)
        if config.strategy == "fsdp":
            return ParallelDims(dp_replicate=1, dp_shard=dp, tp=tp)
        shard = config.shard_group_size or max(1, local_world_size // tp)
        if dp % shard:
            raise TrainerError(f"hsdp shardGroupSize {shard} does not divide the data-parallel size {dp}")
        return ParallelDims(dp_replicate=dp // shard, dp_shard=shard, tp=tp)


@dataclass(frozen=True)
class Runtime:
    """This process's place in the job."""

    rank: int
    local_rank: int
    world_size: int
    local_world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_runtime(collective_timeout_seconds: int) -> Runtime:
    """Pick the device and join the process group (a group of one outside torchrun), whose
    collectives raise after `collective_timeout_seconds` instead of hanging."""
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "cuda:nccl,cpu:gloo"
    else:
        device = torch.device("cpu")
        backend = "gloo"
    if not dist.is_initialized():
        if "MASTER_ADDR" not in os.environ:
            os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=os.environ.get("MASTER_PORT", "29500"))
        # Checkpoint writes and first-step compiles can hold ranks apart for minutes.
        dist.init_process_group(
            backend=backend,
            rank=rank,
            world_size=world_size,
            timeout=timedelta(seconds=collective_timeout_seconds),
            device_id=device if device.type == "cuda" else None,
        )
    return Runtime(rank, local_rank, world_size, local_world_size, device)


def build_mesh(dims: ParallelDims, device: torch.device) -> DeviceMesh:
    """The 3-D mesh (dp_replicate, dp_shard, tp)."""
    return init_device_mesh(
        device.type, (dims.dp_replicate, dims.dp_shard, dims.tp), mesh_dim_names=("dp_replicate", "dp_shard", "tp")
    )


def dp_coordinates(mesh: DeviceMesh) -> tuple[int, int]:
    """This rank's data-parallel rank and the data-parallel size: which data it reads."""
    replicate, shard = mesh["dp_replicate"], mesh["dp_shard"]
    return replicate.get_local_rank() * shard.size() + shard.get_local_rank(), replicate.size() * shard.size()


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum over all ranks.

    Every reduction in the trainer is a SUM followed by our own division: gloo's AVG has
    been silently wrong under FSDP2 in some torch releases (pytorch/pytorch#162338).
    """
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def barrier() -> None:
    """Wait for every rank."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def shutdown() -> None:
    """Leave the process group."""
    if dist.is_initialized():
        dist.destroy_process_group()


def broadcast_from_main(value: T) -> T:
    """Rank 0's `value` on every rank: one decision for all, where each rank might see another."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return value
    holder: list[object] = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]  # type: ignore[return-value]
