"""Hugging Face `transformers` models: loading a local causal LM, and exporting ours.

Loading reads a directory the pod can see (a PVC, a baked-in image path); nothing is
downloaded. Exporting writes the built-in Transformer as a `LlamaForCausalLM` directory
(config.json + model.safetensors) that `from_pretrained` loads with the same logits.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, LlamaConfig, PreTrainedModel

from llmtrain_trainer.models.llama import ModelArgs


def load_causal_lm(path: str, pretrained_weights: bool) -> PreTrainedModel:
    """The model in `path`, with its weights or freshly initialised from its config.json."""
    if pretrained_weights:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, local_files_only=True)
    else:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)  # type: ignore[no-untyped-call]
    # The KV cache is for generation; training only pays for it.
    model.config.use_cache = False
    assert isinstance(model, PreTrainedModel)
    return model


def transformer_blocks(model: nn.Module) -> nn.ModuleList:
    """The list of decoder layers, found by the class names the model declares unsplittable."""
    block_names = set(getattr(model, "_no_split_modules", None) or [])
    for module in model.modules():
        if isinstance(module, nn.ModuleList) and len(module) and type(module[0]).__name__ in block_names:
            return module
    raise ValueError(f"cannot find the decoder layers of {type(model).__name__}")


def llama_config(args: ModelArgs) -> LlamaConfig:
    """The `transformers` config of the same architecture."""
    return LlamaConfig(
        vocab_size=args.vocab_size,
        hidden_size=args.dim,
        intermediate_size=args.ffn_dim,
        num_hidden_layers=args.n_layers,
        num_attention_heads=args.n_heads,
        num_key_value_heads=args.n_kv_heads,
        head_dim=args.head_dim,
        max_position_embeddings=args.max_seq_len,
        rms_norm_eps=args.norm_eps,
        rope_parameters={"rope_type": "default", "rope_theta": args.rope_theta},
        tie_word_embeddings=args.tie_embeddings,
        bos_token_id=None,
        eos_token_id=None,
    )


_BLOCK_NAMES = {
    "attention.wq": "self_attn.q_proj",
    "attention.wk": "self_attn.k_proj",
    "attention.wv": "self_attn.v_proj",
    "attention.wo": "self_attn.o_proj",
    "feed_forward.w1": "mlp.gate_proj",
    "feed_forward.w2": "mlp.down_proj",
    "feed_forward.w3": "mlp.up_proj",
    "attention_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
}


def llama_state_dict(state: dict[str, torch.Tensor], args: ModelArgs) -> dict[str, torch.Tensor]:
    """Our parameter names mapped to `LlamaForCausalLM`'s."""
    out: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        if name == "tok_embeddings.weight":
            out["model.embed_tokens.weight"] = tensor
        elif name == "norm.weight":
            out["model.norm.weight"] = tensor
        elif name == "output.weight":
            if not args.tie_embeddings:
                out["lm_head.weight"] = tensor
        else:
            _, index, rest = name.split(".", 2)
            module, leaf = rest.rsplit(".", 1)
            out[f"model.layers.{index}.{_BLOCK_NAMES[module]}.{leaf}"] = tensor
    return out


def export_llama(state: dict[str, torch.Tensor], args: ModelArgs, directory: Path) -> None:
    """Write config.json and model.safetensors for `LlamaForCausalLM.from_pretrained`."""
    directory.mkdir(parents=True, exist_ok=True)
    llama_config(args).save_pretrained(directory)
    tensors = {k: v.detach().contiguous().cpu() for k, v in llama_state_dict(state, args).items()}
    save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})


def export_hf_model(model: PreTrainedModel, state: dict[str, torch.Tensor], directory: Path) -> None:
    """Write a fine-tuned `transformers` model with its gathered weights."""
    model.save_pretrained(directory, state_dict=state)
