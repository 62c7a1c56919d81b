"""The built-in Transformer: causality, shapes of the presets, FLOPs, and the Hugging Face mapping."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaForCausalLM

from llmtrain.api.trainer import ModelOverrides
from llmtrain_trainer.models.flops import flops_per_token, matmul_params
from llmtrain_trainer.models.hf import llama_config, llama_state_dict
from llmtrain_trainer.models.llama import ModelArgs, Transformer
from llmtrain_trainer.models.presets import model_args


def test_logits_never_see_the_future() -> None:
    torch.manual_seed(0)
    model = Transformer(model_args("test", None))
    tokens = torch.randint(0, 512, (1, 16))
    changed = tokens.clone()
    changed[0, 10:] = (changed[0, 10:] + 1) % 512
    before, after = model(tokens), model(changed)
    torch.testing.assert_close(before[:, :10], after[:, :10])
    assert not torch.allclose(before[:, 10:], after[:, 10:])


@pytest.mark.parametrize(("preset", "params"), [("llama-1b", 1_235_814_400), ("llama-8b", 8_030_261_248)])
def test_presets_have_the_published_parameter_counts(preset: str, params: int) -> None:
    with torch.device("meta"):
        model = Transformer(model_args(preset, None))  # type: ignore[arg-type]
    assert sum(p.numel() for p in model.parameters()) == params


def test_overrides_change_only_what_they_set() -> None:
    args = model_args("llama-1b", ModelOverrides(n_layers=4, tie_embeddings=False))
    assert (args.n_layers, args.tie_embeddings, args.dim) == (4, False, 2048)


def test_tied_output_shares_the_embedding() -> None:
    model = Transformer(model_args("test", None))
    assert model.output.weight is model.tok_embeddings.weight
    untied = Transformer(model_args("test", ModelOverrides(tie_embeddings=False)))
    assert untied.output.weight is not untied.tok_embeddings.weight


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="does not divide"):
        Transformer(ModelArgs(dim=64, n_layers=1, n_heads=4, n_kv_heads=3, ffn_dim=64, vocab_size=10, max_seq_len=8))


def test_flops_count_the_tied_output_projection() -> None:
    args = model_args("test", None)
    model = Transformer(args)
    per_block = 2 * 64 * 64 + 2 * 64 * 32 + 3 * 64 * 128  # q, o; k, v (2 kv heads of 16); w1, w2, w3
    n = args.n_layers * per_block + 512 * 64  # the output projection, although tied
    assert matmul_params(model) == n
    assert flops_per_token(n, 2, 4, 16, 32) == 6 * n + 12 * 2 * 4 * 16 * 32


def test_hugging_face_llama_computes_the_same_logits() -> None:
    torch.manual_seed(0)
    args = model_args("test", ModelOverrides(tie_embeddings=False))
    ours = Transformer(args)
    theirs = LlamaForCausalLM(llama_config(args))
    missing, unexpected = theirs.load_state_dict(llama_state_dict(ours.state_dict(), args), strict=False)
    assert not missing and not unexpected
    tokens = torch.randint(0, 512, (2, 24))
    with torch.no_grad():
        torch.testing.assert_close(theirs(tokens).logits, ours(tokens), atol=1e-5, rtol=1e-5)
