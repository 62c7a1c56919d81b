"""Supervised fine-tuning data: jsonl lines of {"prompt": ..., "response": ...}.

Each example becomes one sequence: prompt, response, EOS. Labels are the next tokens,
with every label that predicts a prompt token (and the padding) set to the ignore index,
so the loss is taken on the response and its EOS only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch.utils.data import Dataset

from llmtrain_trainer.data.tokenizer import eos_id
from llmtrain_trainer.data.tokens import IGNORE_INDEX, Sample

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


def sft_sample(prompt: list[int], response: list[int], eos: int, seq_len: int) -> Sample:
    """Inputs and labels of one example, truncated or padded to seq_len."""
    ids = [*prompt, *response, eos][: seq_len + 1]
    labels = [IGNORE_INDEX if i + 1 < len(prompt) else ids[i + 1] for i in range(len(ids) - 1)]
    pad = seq_len - len(labels)
    inputs = torch.tensor(ids[:-1] + [eos] * pad, dtype=torch.int64)
    return inputs, torch.tensor(labels + [IGNORE_INDEX] * pad, dtype=torch.int64)


class SFTExamples(Dataset[Sample]):
    """Prompt/response pairs from jsonl files, tokenized on start."""

    def __init__(self, paths: Sequence[Path], tokenizer: PreTrainedTokenizerBase, seq_len: int) -> None:
        self.samples: list[Sample] = []
        eos = eos_id(tokenizer)
        for path in paths:
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                record = json.loads(line)
                if not isinstance(record, dict) or "prompt" not in record or "response" not in record:
                    raise ValueError(f"{path}:{number}: expected an object with prompt and response")
                # Special tokens (BOS) belong at the start of the sequence only.
                prompt = tokenizer(record["prompt"])["input_ids"]
                response = tokenizer(record["response"], add_special_tokens=False)["input_ids"]
                self.samples.append(sft_sample(prompt, response, eos, seq_len))

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Sample:
        return self.samples[index]
