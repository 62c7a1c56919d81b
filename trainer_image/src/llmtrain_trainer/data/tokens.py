"""Training windows over flat token arrays: memory-mapped shards or in-memory arrays.

Each array is cut into non-overlapping windows of seq_len + 1 tokens (inputs and the
labels shifted by one); windows never span two arrays, so a shard's last partial window
is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import Dataset

Sample = tuple[torch.Tensor, torch.Tensor]
"""Input token ids and label ids (-100 where no loss is taken), both (seq_len,) int64."""

IGNORE_INDEX = -100


class SampleSource(Protocol):
    """A sized, indexable collection of samples (a dataset or a subset of one)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Sample: ...


class TokenWindows(Dataset[Sample]):
    """Consecutive windows of seq_len + 1 tokens over a list of token arrays."""

    def __init__(self, sources: Sequence[Path | npt.NDArray[np.integer]], dtype: str, seq_len: int) -> None:
        self.sources = list(sources)
        self.dtype = np.dtype(dtype)
        self.seq_len = seq_len
        lengths = [self._length(source) for source in self.sources]
        self.windows_per_source = [max(0, (n - 1) // seq_len) for n in lengths]
        self.offsets = np.cumsum([0, *self.windows_per_source])
        # Opened lazily so that the dataset pickles cheaply into DataLoader workers.
        self._arrays: list[npt.NDArray[np.integer]] | None = None

    def _length(self, source: Path | npt.NDArray[np.integer]) -> int:
        if isinstance(source, Path):
            return source.stat().st_size // self.dtype.itemsize
        return len(source)

    def _open(self) -> list[npt.NDArray[np.integer]]:
        if self._arrays is None:
            self._arrays = [
                np.memmap(s, dtype=self.dtype, mode="r") if isinstance(s, Path) else s for s in self.sources
            ]
        return self._arrays

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_arrays": None}

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, index: int) -> Sample:
        source = int(np.searchsorted(self.offsets, index, side="right")) - 1
        start = (index - int(self.offsets[source])) * self.seq_len
        window = torch.from_numpy(self._open()[source][start : start + self.seq_len + 1].astype(np.int64))
        return window[:-1], window[1:]
