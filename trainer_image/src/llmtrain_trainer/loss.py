"""The training objective: next-token cross-entropy, summed over target tokens.

Labels equal to IGNORE_INDEX (SFT prompts, padding) contribute nothing. The sum, not the
mean, is returned so the trainer can divide by the token count of the whole global batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from llmtrain_trainer.data import IGNORE_INDEX


def cross_entropy_sum(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sum of -log p(label) over every position whose label is not ignored, in fp32."""
    return F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX, reduction="sum")


def target_tokens(labels: torch.Tensor) -> int:
    """Positions that count towards the loss."""
    return int((labels != IGNORE_INDEX).sum())
