"""Model FLOPs per token, the numerator of MFU.

`6·N + 12·L·H·Q·T` (PaLM, appendix B): 6 FLOPs per matmul weight per token for forward
and backward, plus attention scores and values. N counts every weight used in a matrix
multiply, the output projection included even when it is tied to the embedding, because
the multiply happens either way; the embedding lookup is a gather and does not count.
"""

from __future__ import annotations

from torch import nn


def matmul_params(model: nn.Module) -> int:
    """Weights of every nn.Linear, counted once per module that multiplies with them.

    Walking modules rather than parameters counts a tied output projection even though it
    shares its Parameter with the embedding.
    """
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))


def flops_per_token(n_matmul_params: int, n_layers: int, n_heads: int, head_dim: int, seq_len: int) -> int:
    """Training FLOPs per token: 6·N + 12·L·H·Q·T."""
    return 6 * n_matmul_params + 12 * n_layers * n_heads * head_dim * seq_len
