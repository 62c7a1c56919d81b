"""Parallelism, applied to a model from outside, in torchtitan's order.

tensor parallel -> activation checkpointing -> torch.compile -> FSDP2 / HSDP or DDP.
Tensor parallelism rewrites the linear layers first, because checkpointing, compiling and
sharding all wrap what is already there; data parallelism comes last so that it shards or
replicates the final modules.

Gradient reduction is a plain SUM everywhere: the trainer divides the loss by the global
number of target tokens before backward, so summed gradients are the exact mean (see
`distributed.all_reduce_sum` for why no AVG is ever used).
"""

from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch._C._distributed_c10d import GradBucket
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import CheckpointImpl, checkpoint_wrapper
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard
from torch.distributed.tensor import Replicate, Shard
from torch.distributed.tensor.parallel import (
    ColwiseParallel,
    PrepareModuleInput,
    RowwiseParallel,
    SequenceParallel,
    parallelize_module,
)
from torch.nn.parallel import DistributedDataParallel

from llmtrain.api.trainer import ParallelismConfig
from llmtrain_trainer.distributed import ParallelDims
from llmtrain_trainer.errors import TrainerError
from llmtrain_trainer.models import BuiltModel
from llmtrain_trainer.models.llama import Transformer


def parallelize(
    built: BuiltModel,
    config: ParallelismConfig,
    dims: ParallelDims,
    mesh: DeviceMesh,
    param_dtype: torch.dtype,
    device: torch.device,
) -> nn.Module:
    """The model ready to train: sharded, wrapped and on `device`."""
    model = built.module
    if dims.tp > 1:
        if not isinstance(model, Transformer):
            raise TrainerError("tensorParallel > 1 is supported for the built-in models only")
        apply_tensor_parallel(model, mesh["tp"])
    if config.activation_checkpointing != "none":
        every = 1 if config.activation_checkpointing == "full" else config.activation_checkpointing_every
        apply_activation_checkpointing(built.blocks, every)
    if config.compile:
        apply_compile(built.blocks)
    if config.strategy == "ddp":
        return apply_ddp(model.to(device), mesh["dp_replicate"], device)
    dp_mesh = mesh["dp_shard"] if config.strategy == "fsdp" else mesh["dp_replicate", "dp_shard"]
    apply_fsdp(model, built.blocks, dp_mesh, param_dtype)
    return model


def apply_tensor_parallel(model: Transformer, tp_mesh: DeviceMesh) -> None:
    """Megatron-style tensor parallelism with sequence-parallel norms.

    Column-parallel q/k/v and w1/w3, row-parallel o and w2; activations between blocks
    stay sharded on the sequence dimension, and the logits come back replicated so the
    loss is the same computation as without tensor parallelism.
    """
    tied = model.args.tie_embeddings
    parallelize_module(
        model,
        tp_mesh,
        {
            "tok_embeddings": RowwiseParallel(input_layouts=Replicate(), output_layouts=Shard(1)),
            "norm": SequenceParallel(),
            "output": ColwiseParallel(input_layouts=Shard(1), output_layouts=Replicate(), use_local_output=True),
        },
    )
    for block in model.layers:
        parallelize_module(
            block,
            tp_mesh,
            {
                "attention_norm": SequenceParallel(),
                "attention": PrepareModuleInput(
                    input_layouts=(Shard(1), None, None), desired_input_layouts=(Replicate(), None, None)
                ),
                "attention.wq": ColwiseParallel(),
                "attention.wk": ColwiseParallel(),
                "attention.wv": ColwiseParallel(),
                "attention.wo": RowwiseParallel(output_layouts=Shard(1)),
                "ffn_norm": SequenceParallel(),
                "feed_forward": PrepareModuleInput(input_layouts=(Shard(1),), desired_input_layouts=(Replicate(),)),
                "feed_forward.w1": ColwiseParallel(),
                "feed_forward.w2": RowwiseParallel(output_layouts=Shard(1)),
                "feed_forward.w3": ColwiseParallel(),
            },
        )
    if tied:
        # Both styles shard the shared weight on the vocabulary dimension, but each
        # registers its own Parameter; point the output back at the embedding's.
        model.output.weight = model.tok_embeddings.weight


def apply_activation_checkpointing(blocks: nn.ModuleList, every: int) -> None:
    """Recompute every `every`-th block's activations in the backward pass."""
    for index, block in enumerate(blocks):
        if index % every == 0:
            blocks[index] = checkpoint_wrapper(
                block, checkpoint_impl=CheckpointImpl.NO_REENTRANT, preserve_rng_state=False
            )


def apply_compile(blocks: nn.ModuleList) -> None:
    """Compile each block on its own: blocks are identical, so one compilation serves all."""
    for index, block in enumerate(blocks):
        blocks[index] = torch.compile(block, fullgraph=True)  # type: ignore[assignment]


def apply_fsdp(model: nn.Module, blocks: nn.ModuleList, dp_mesh: DeviceMesh, param_dtype: torch.dtype) -> None:
    """FSDP2: shard each block, then the root (embedding, final norm, output).

    Parameters are all-gathered in the compute precision and gradients reduced in fp32.
    """
    policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=torch.float32)
    last = len(blocks) - 1
    for index, block in enumerate(blocks):
        # The last block's parameters are needed again at once by backward.
        fully_shard(block, mesh=dp_mesh, mp_policy=policy, reshard_after_forward=index < last)
    fully_shard(model, mesh=dp_mesh, mp_policy=policy, reshard_after_forward=False)
    for module in model.modules():
        if isinstance(module, FSDPModule):
            module.set_gradient_divide_factor(1.0)
            module.set_force_sum_reduction_for_comms(True)


def apply_ddp(model: nn.Module, dp_mesh: DeviceMesh, device: torch.device) -> nn.Module:
    """DDP over the data-parallel group, summing gradients instead of averaging them."""
    ddp = DistributedDataParallel(
        model,
        device_ids=[device.index] if device.type == "cuda" else None,
        process_group=dp_mesh.get_group(),
    )
    ddp.register_comm_hook(dp_mesh.get_group(), _sum_allreduce)
    return ddp


# DDP checks this signature's annotations at runtime, so this module keeps them evaluated
# (no `from __future__ import annotations`).
def _sum_allreduce(group: dist.ProcessGroup, bucket: GradBucket) -> torch.futures.Future[torch.Tensor]:
    work = dist.all_reduce(bucket.buffer(), op=dist.ReduceOp.SUM, group=group, async_op=True)
    assert work is not None
    future: Any = work.get_future()
    summed: torch.futures.Future[torch.Tensor] = future.then(lambda f: f.value()[0])
    return summed
