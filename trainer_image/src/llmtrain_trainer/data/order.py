"""The order in which samples are read, and which rank reads which.

The order is global and independent of the number of processes: sample k of the run is
`permutation(epoch)[k % n]`, reshuffled every epoch from the seed. Optimizer step s reads
global samples [s·G, (s+1)·G) for a global batch of G, and data-parallel rank r takes the
r-th contiguous slice of it. So the only data state is the number of samples consumed,
and a run resumed on a different number of processes reads exactly the samples the
original run would have read next.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
from torch.utils.data import Sampler


class GlobalOrder:
    """Sample k of the run -> dataset index."""

    def __init__(self, n_samples: int, seed: int, shuffle: bool = True) -> None:
        if n_samples == 0:
            raise ValueError("the dataset has no complete sample (is seqLen longer than the data?)")
        self.n_samples = n_samples
        self.seed = seed
        self.shuffle = shuffle
        self._epoch = -1
        self._permutation: npt.NDArray[np.int64] = np.arange(0)

    def __getitem__(self, k: int) -> int:
        epoch, position = divmod(k, self.n_samples)
        if not self.shuffle:
            return position
        if epoch != self._epoch:
            self._permutation = np.random.default_rng([self.seed, epoch]).permutation(self.n_samples)
            self._epoch = epoch
        return int(self._permutation[position])


class RankBatches(Sampler[list[int]]):
    """This rank's micro-batches of dataset indices, forever, from a global sample offset."""

    def __init__(
        self, order: GlobalOrder, start: int, micro_batch: int, accumulation: int, dp_rank: int, dp_size: int
    ) -> None:
        self.order = order
        self.start = start
        self.micro_batch = micro_batch
        self.per_rank = micro_batch * accumulation
        self.dp_rank = dp_rank
        self.global_batch = self.per_rank * dp_size

    def __iter__(self) -> Iterator[list[int]]:
        step_start = self.start
        while True:
            first = step_start + self.dp_rank * self.per_rank
            for micro in range(first, first + self.per_rank, self.micro_batch):
                yield [self.order[k] for k in range(micro, micro + self.micro_batch)]
            step_start += self.global_batch
