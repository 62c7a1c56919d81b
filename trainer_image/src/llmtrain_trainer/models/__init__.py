"""Model construction: a built-in preset or a Hugging Face directory, behind one handle.

The trainer and `parallelize` see a `BuiltModel`: the module, its list of Transformer
blocks (the unit of sharding, checkpointing and compiling), what MFU needs, and how to
get logits and an exported Hugging Face directory out of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from llmtrain.api.trainer import ModelConfig
from llmtrain_trainer.models.flops import flops_per_token, matmul_params
from llmtrain_trainer.models.llama import ModelArgs, Transformer
from llmtrain_trainer.models.presets import model_args

if TYPE_CHECKING:
    from transformers import PreTrainedModel

# `transformers` (and `models.hf`, which needs it) is imported where it is used: it takes
# seconds to import, which every rank of every attempt of a preset model would pay.

Exporter = Callable[[dict[str, torch.Tensor], Path], None]


@dataclass
class BuiltModel:
    """A model and what the rest of the trainer needs to know about it."""

    module: nn.Module
    blocks: nn.ModuleList
    n_layers: int
    n_heads: int
    head_dim: int
    n_matmul_params: int
    export: Exporter

    def flops_per_token(self, seq_len: int) -> int:
        """Training FLOPs per token at this sequence length (see `models.flops`)."""
        return flops_per_token(self.n_matmul_params, self.n_layers, self.n_heads, self.head_dim, seq_len)


def logits(model: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """Next-token logits of a (possibly wrapped) built-in or `transformers` model."""
    out = model(tokens)
    if isinstance(out, torch.Tensor):
        return out
    result = out.logits
    assert isinstance(result, torch.Tensor)
    return result


def build_model(config: ModelConfig) -> BuiltModel:
    """The model the config names, in fp32 on the CPU, initialised from the current RNG state."""
    if config.preset is not None:
        return _builtin(model_args(config.preset, config.overrides))
    assert config.path is not None
    from llmtrain_trainer.models import hf

    return _hugging_face(hf.load_causal_lm(config.path, config.pretrained_weights))


def _builtin(args: ModelArgs) -> BuiltModel:
    model = Transformer(args)
    return BuiltModel(
        module=model,
        blocks=model.layers,
        n_layers=args.n_layers,
        n_heads=args.n_heads,
        head_dim=args.head_dim,
        n_matmul_params=matmul_params(model),
        export=lambda state, directory: _export_llama(state, args, directory),
    )


def _export_llama(state: dict[str, torch.Tensor], args: ModelArgs, directory: Path) -> None:
    from llmtrain_trainer.models import hf

    hf.export_llama(state, args, directory)


def _hugging_face(model: PreTrainedModel) -> BuiltModel:
    from llmtrain_trainer.models import hf

    text_config = model.config.get_text_config()
    n_heads = int(text_config.num_attention_heads)
    head_dim = int(getattr(text_config, "head_dim", None) or text_config.hidden_size // n_heads)
    return BuiltModel(
        module=model,
        blocks=hf.transformer_blocks(model),
        n_layers=int(text_config.num_hidden_layers),
        n_heads=n_heads,
        head_dim=head_dim,
        n_matmul_params=matmul_params(model),
        export=lambda state, directory: hf.export_hf_model(model, state, directory),
    )
