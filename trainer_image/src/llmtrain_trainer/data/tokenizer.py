"""Local tokenizers: a Hugging Face tokenizer directory or a bare tokenizer.json."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from llmtrain_trainer.errors import TrainerError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

_EOS_CANDIDATES = ("</s>", "<|endoftext|>", "<|end_of_text|>", "<eos>", "[SEP]")


def load_tokenizer(path: str) -> PreTrainedTokenizerBase:
    """The tokenizer at `path`, with an end-of-sequence token set.

    A bare tokenizer.json carries no notion of which token ends a document, so the first
    conventional name found in its vocabulary becomes the EOS token.
    """
    # Imported here: seconds that a job on pre-tokenized data need not pay on every rank.
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    try:
        if Path(path).is_file():
            tokenizer: PreTrainedTokenizerBase = PreTrainedTokenizerFast(tokenizer_file=path)  # type: ignore[no-untyped-call]
        else:
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except Exception as e:
        # A file that does not parse fails the same way on every retry: the config is wrong.
        raise TrainerError(
            f"data.tokenizer: {path} is not a tokenizer.json or Hugging Face tokenizer directory: "
            f"{type(e).__name__}: {e}".splitlines()[0]
        ) from e
    if tokenizer.eos_token_id is None:
        vocab = tokenizer.get_vocab()
        name = next((c for c in _EOS_CANDIDATES if c in vocab), None)
        if name is None:
            raise TrainerError(
                f"data.tokenizer: {path} has no end-of-sequence token (tried {', '.join(_EOS_CANDIDATES)})"
            )
        tokenizer.eos_token = name
    return tokenizer


def eos_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The end-of-sequence token id."""
    token_id = tokenizer.eos_token_id
    assert isinstance(token_id, int)
    return token_id
