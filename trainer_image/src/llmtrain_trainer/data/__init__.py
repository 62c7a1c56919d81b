"""Training and validation data from the config: datasets, the split and the loader."""

from __future__ import annotations

import glob
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

from llmtrain.api.trainer import DataConfig
from llmtrain_trainer.data.order import GlobalOrder, RankBatches
from llmtrain_trainer.data.sft import SFTExamples
from llmtrain_trainer.data.text import tokenize_files
from llmtrain_trainer.data.tokenizer import load_tokenizer
from llmtrain_trainer.data.tokens import IGNORE_INDEX, Sample, SampleSource, TokenWindows
from llmtrain_trainer.errors import TrainerError

__all__ = [
    "IGNORE_INDEX",
    "DataSplit",
    "Sample",
    "SampleSource",
    "build_data",
    "eval_batches",
    "resolve_paths",
    "train_batches",
]


@dataclass
class DataSplit:
    """The training samples and the held-out validation samples."""

    train: SampleSource
    validation: SampleSource | None


def resolve_paths(patterns: list[str]) -> list[Path]:
    """Files named by paths, directories (every file inside, sorted) and glob patterns."""
    files: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) or [pattern]
        for match in map(Path, matches):
            if match.is_dir():
                files.extend(sorted(p for p in match.rglob("*") if p.is_file() and not p.name.startswith(".")))
            elif match.is_file():
                files.append(match)
            else:
                raise TrainerError(f"data.paths: {pattern} matches no file")
    return files


def build_data(config: DataConfig) -> DataSplit:
    """Read the data the config names and hold out the validation fraction (its last samples)."""
    paths = resolve_paths(config.paths)
    dataset: TokenWindows | SFTExamples
    if config.format == "tokens":
        dataset = TokenWindows(paths, config.token_dtype, config.seq_len)
    else:
        assert config.tokenizer is not None
        tokenizer = load_tokenizer(config.tokenizer)
        if config.format == "text":
            dataset = TokenWindows(tokenize_files(paths, tokenizer), "int64", config.seq_len)
        else:
            dataset = SFTExamples(paths, tokenizer, config.seq_len)
    n = len(dataset)
    n_val = int(n * config.validation_fraction)
    if n_val == 0:
        return DataSplit(train=dataset, validation=None)
    return DataSplit(train=Subset(dataset, range(n - n_val)), validation=Subset(dataset, range(n - n_val, n)))


def train_batches(
    split: DataSplit,
    config: DataConfig,
    *,
    seed: int,
    start: int,
    micro_batch: int,
    accumulation: int,
    dp_rank: int,
    dp_size: int,
    pin_memory: bool,
) -> Iterator[Sample]:
    """This rank's training micro-batches, beginning after `start` consumed global samples."""
    order = GlobalOrder(len(split.train), seed)
    sampler = RankBatches(order, start, micro_batch, accumulation, dp_rank, dp_size)
    loader: DataLoader[Sample] = DataLoader(
        split.train,  # type: ignore[arg-type]  # any map-style dataset will do
        batch_sampler=sampler,
        num_workers=config.num_workers,
        pin_memory=pin_memory,
        persistent_workers=config.num_workers > 0,
    )
    return iter(loader)


def eval_batches(
    validation: SampleSource, *, steps: int, micro_batch: int, dp_rank: int, dp_size: int
) -> Iterator[Sample]:
    """The same `steps` validation micro-batches on every evaluation, this rank's share of each."""
    order = GlobalOrder(len(validation), seed=0, shuffle=False)
    for step in range(steps):
        first = (step * dp_size + dp_rank) * micro_batch
        samples = [validation[order[k]] for k in range(first, first + micro_batch)]
        yield torch.stack([s[0] for s in samples]), torch.stack([s[1] for s in samples])
