"""Data: token windows, SFT masking, text tokenizing, and the global sample order."""

from __future__ import annotations

import functools
import json
import operator
from pathlib import Path

import numpy as np
import pytest
import torch

from llmtrain.api.trainer import DataConfig
from llmtrain_trainer.data import IGNORE_INDEX, build_data, eval_batches, resolve_paths
from llmtrain_trainer.data.order import GlobalOrder, RankBatches
from llmtrain_trainer.data.sft import SFTExamples, sft_sample
from llmtrain_trainer.data.tokenizer import load_tokenizer
from llmtrain_trainer.data.tokens import TokenWindows
from llmtrain_trainer.loss import cross_entropy_sum


def test_token_windows_over_memory_mapped_shards(tmp_path: Path) -> None:
    np.arange(0, 21, dtype=np.uint32).tofile(tmp_path / "a.bin")
    np.arange(100, 109, dtype=np.uint32).tofile(tmp_path / "b.bin")
    windows = TokenWindows(resolve_paths([str(tmp_path)]), "uint32", seq_len=4)
    # 21 tokens -> 5 windows of 4 + 1 shifted label; 9 tokens -> 2; none spans the two files.
    assert len(windows) == 7
    inputs, labels = windows[4]
    assert inputs.tolist() == [16, 17, 18, 19] and labels.tolist() == [17, 18, 19, 20]
    inputs, labels = windows[6]
    assert inputs.tolist() == [104, 105, 106, 107] and labels.tolist() == [105, 106, 107, 108]


def test_sft_labels_only_the_response() -> None:
    inputs, labels = sft_sample(prompt=[5, 6, 7], response=[8, 9], eos=1, seq_len=8)
    assert inputs.tolist() == [5, 6, 7, 8, 9, 1, 1, 1]
    assert labels.tolist() == [IGNORE_INDEX, IGNORE_INDEX, 8, 9, 1, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]


def test_sft_loss_ignores_prompt_tokens(tmp_path: Path, tokenizer_file: Path) -> None:
    path = tmp_path / "sft.jsonl"
    path.write_text(json.dumps({"prompt": "what is the answer", "response": "yes the cat"}) + "\n")
    _inputs, labels = SFTExamples([path], load_tokenizer(str(tokenizer_file)), seq_len=12)[0]
    n_prompt, n_response = 4, 3 + 1  # the response and its EOS
    assert (labels != IGNORE_INDEX).sum() == n_response
    assert (labels[: n_prompt - 1] == IGNORE_INDEX).all()

    logits = torch.randn(1, 12, 32)
    loss = cross_entropy_sum(logits, labels[None])
    # Whatever the model predicts at prompt (and padding) positions, the loss is the same...
    scrambled = logits.clone()
    scrambled[0, : n_prompt - 1] = torch.randn(n_prompt - 1, 32) * 100
    scrambled[0, n_prompt - 1 + n_response :] = 1e4
    assert cross_entropy_sum(scrambled, labels[None]) == loss
    # ...and it is exactly the cross-entropy of the response tokens.
    positions = torch.arange(n_prompt - 1, n_prompt - 1 + n_response)
    expected = torch.nn.functional.cross_entropy(logits[0, positions], labels[positions], reduction="sum")
    torch.testing.assert_close(loss, expected)


def test_text_files_are_tokenized_with_eos_and_split_for_validation(tmp_path: Path, tokenizer_file: Path) -> None:
    (tmp_path / "a.txt").write_text("the cat sat on a mat " * 20)
    config = DataConfig(
        format="text",
        paths=[str(tmp_path / "*.txt")],
        tokenizer=str(tokenizer_file),
        seq_len=8,
        validation_fraction=0.2,
    )
    split = build_data(config)
    assert split.validation is not None
    # 120 words + EOS = 121 tokens -> 15 windows, 3 held out.
    assert (len(split.train), len(split.validation)) == (12, 3)
    tokenizer = load_tokenizer(str(tokenizer_file))
    inputs, _ = split.train[0]
    assert tokenizer.decode(inputs.tolist()) == "the cat sat on a mat the cat"
    _, last_labels = split.validation[2]
    assert last_labels[-1] == tokenizer.eos_token_id


def test_every_sample_is_read_once_per_epoch_in_a_seeded_order() -> None:
    order = GlobalOrder(10, seed=3)
    first, second = [order[k] for k in range(10)], [order[k] for k in range(10, 20)]
    assert sorted(first) == sorted(second) == list(range(10))
    assert first != list(range(10)) and first != second
    assert [GlobalOrder(10, seed=3)[k] for k in range(20)] == first + second


@pytest.mark.parametrize("dp_size", [2, 4])
def test_ranks_split_the_single_process_batches(dp_size: int) -> None:
    order = GlobalOrder(50, seed=0)
    global_batch, micro = 8, 2

    def steps(dp_rank: int, size: int, start: int, n: int) -> list[list[int]]:
        accumulation = global_batch // (micro * size)
        batches = iter(RankBatches(order, start, micro, accumulation, dp_rank, size))
        return [functools.reduce(operator.iadd, (next(batches) for _ in range(accumulation)), []) for _ in range(n)]

    single = steps(0, 1, start=0, n=5)
    ranks = [steps(r, dp_size, start=0, n=5) for r in range(dp_size)]
    assert [functools.reduce(operator.iadd, (ranks[r][s] for r in range(dp_size)), []) for s in range(5)] == single
    # Resuming from a sample offset continues where the run stood, whatever the world size.
    resumed = [steps(r, dp_size, start=3 * global_batch, n=2) for r in range(dp_size)]
    assert [functools.reduce(operator.iadd, (resumed[r][s] for r in range(dp_size)), []) for s in range(2)] == single[
        3:
    ]


def test_eval_batches_are_fixed_and_split_over_ranks() -> None:
    data = TokenWindows([np.arange(200)], "int64", seq_len=4)
    one = [x for x, _ in eval_batches(data, steps=2, micro_batch=2, dp_rank=0, dp_size=1)]
    two = [[x for x, _ in eval_batches(data, steps=1, micro_batch=2, dp_rank=r, dp_size=2)] for r in range(2)]
    assert torch.equal(torch.cat([two[0][0], two[1][0]]), torch.cat(one))
