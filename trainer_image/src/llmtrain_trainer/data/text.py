"""Plain text files, tokenized on start with a local tokenizer.

Every process tokenizes the files itself (the result is deterministic, so all ranks agree
without communicating); corpora too big for that belong in pre-tokenized shards.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from llmtrain_trainer.data.tokenizer import eos_id

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


def tokenize_files(paths: Sequence[Path], tokenizer: PreTrainedTokenizerBase) -> list[npt.NDArray[np.int64]]:
    """One token array per file: the file's tokens followed by EOS."""
    eos = eos_id(tokenizer)
    arrays = []
    for path in paths:
        ids = tokenizer(path.read_text(encoding="utf-8"), add_special_tokens=False)["input_ids"]
        arrays.append(np.asarray([*ids, eos], dtype=np.int64))
    return arrays
