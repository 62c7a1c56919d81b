"""AdamW and the learning-rate schedule: linear warm-up, then cosine, linear or constant.

The schedule is a pure function of the step, applied before every optimizer step; its
only state is the step itself, which the checkpoint holds, so a run resumed with a longer
`schedule.steps` follows the new schedule from where it stands.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from llmtrain.api.trainer import OptimizerConfig, ScheduleConfig


def build_optimizer(model: nn.Module, config: OptimizerConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (norm scales are not decayed)."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    fused = config.fused if config.fused is not None else device.type == "cuda"
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
        betas=config.betas,
        eps=config.eps,
        fused=fused,
        foreach=None if fused else True,
    )


class WarmupDecay:
    """The learning-rate multiplier at a step."""

    def __init__(self, config: ScheduleConfig) -> None:
        self.warmup = config.warmup_steps
        self.total = config.steps
        self.decay = config.decay
        self.min_ratio = config.min_lr_ratio

    def __call__(self, step: int) -> float:
        # Step 0 is the first optimizer step; warm-up ends at the peak on step `warmup`.
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        if self.decay == "constant":
            return 1.0
        progress = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        shape = 1.0 - progress if self.decay == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.min_ratio + (1.0 - self.min_ratio) * shape


def set_learning_rate(optimizer: torch.optim.Optimizer, schedule: WarmupDecay, peak: float, step: int) -> float:
    """Set and return the learning rate of `step`."""
    lr = peak * schedule(step)
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr
