"""Named model shapes, from a test-size model to Llama 3 8B, and the overrides on top."""

from __future__ import annotations

import dataclasses

from llmtrain.api.trainer import ModelOverrides, ModelPreset
from llmtrain_trainer.models.llama import ModelArgs

PRESETS: dict[ModelPreset, ModelArgs] = {
    # Small enough for CPU tests; tied, like llama-1b, so tests cover tying under every
    # parallelism.
    "test": ModelArgs(
        dim=64,
        n_layers=2,
        n_heads=4,
        n_kv_heads=2,
        ffn_dim=128,
        vocab_size=512,
        max_seq_len=256,
        rope_theta=10_000.0,
        tie_embeddings=True,
    ),
    "llama-125m": ModelArgs(
        dim=768,
        n_layers=12,
        n_heads=12,
        n_kv_heads=4,
        ffn_dim=2048,
        vocab_size=32_000,
        max_seq_len=4096,
        tie_embeddings=True,
    ),
    # Llama 3.2 1B.
    "llama-1b": ModelArgs(
        dim=2048,
        n_layers=16,
        n_heads=32,
        n_kv_heads=8,
        ffn_dim=8192,
        vocab_size=128_256,
        max_seq_len=8192,
        tie_embeddings=True,
    ),
    # Llama 3 8B.
    "llama-8b": ModelArgs(
        dim=4096,
        n_layers=32,
        n_heads=32,
        n_kv_heads=8,
        ffn_dim=14_336,
        vocab_size=128_256,
        max_seq_len=8192,
        tie_embeddings=False,
    ),
}


def model_args(preset: ModelPreset, overrides: ModelOverrides | None) -> ModelArgs:
    """The preset's shape with every set override applied."""
    args = PRESETS[preset]
    if overrides is None:
        return args
    changes = {name: value for name, value in overrides.model_dump().items() if value is not None}
    return dataclasses.replace(args, **changes)
