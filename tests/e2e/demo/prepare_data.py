"""Write the tiny job's data into a directory: a synthetic English-like corpus and a
byte-level BPE tokenizer trained on it (the `tokenizers` library; nothing is downloaded).

Standalone on purpose (standard library + `tokenizers` only): the demo and `make e2e-kind`
mount this file from a ConfigMap into a one-off pod that has the data volume mounted, so
the same script fills the claim on the local cluster and on a real one, where it runs in
the trainer image.

    python prepare_data.py /data    # writes /data/corpus.txt and /data/tokenizer.json
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

VOCAB_SIZE = 512
"""The `test` model preset's vocabulary: every token id must be below it."""
EOS = "</s>"
"""An end-of-sequence name the trainer recognises in a bare tokenizer.json."""
SENTENCES = 6000

# A small grammar: a corpus with real structure, so the loss falls within a few hundred
# steps and the trained model's samples look like the corpus.
SUBJECTS = [
    "the cat",
    "a dog",
    "the little bird",
    "my friend",
    "the old man",
    "a young girl",
    "the farmer",
    "our teacher",
]
VERBS = ["sees", "likes", "finds", "follows", "feeds", "watches", "helps", "calls"]
OBJECTS = [
    "the ball",
    "a red apple",
    "the river",
    "the small house",
    "a green tree",
    "the garden",
    "the moon",
    "a book",
]
ENDINGS = ["in the morning", "after dinner", "every day", "near the road", "on sunday", "at night", "with joy", "again"]


def sentences(count: int, seed: int = 0) -> list[str]:
    """`count` sentences of the grammar, the same ones for the same seed."""
    rng = random.Random(seed)
    return [
        f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(ENDINGS)}." for _ in range(count)
    ]


def train_tokenizer(lines: list[str]) -> Tokenizer:
    """A byte-level BPE tokenizer of VOCAB_SIZE tokens with EOS as its special token."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(lines, trainer=trainer)
    return tokenizer


def write(directory: Path) -> tuple[Path, Path]:
    """Write corpus.txt (one sentence per line) and tokenizer.json into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = sentences(SENTENCES)
    corpus = directory / "corpus.txt"
    # Written under a temporary name and renamed: a reader never sees half a corpus.
    partial = directory / ".corpus.txt.tmp"
    partial.write_text("\n".join(lines) + "\n")
    partial.replace(corpus)
    tokenizer_path = directory / "tokenizer.json"
    tokenizer = train_tokenizer(lines)
    assert tokenizer.get_vocab_size() <= VOCAB_SIZE, tokenizer.get_vocab_size()
    tokenizer.save(str(tokenizer_path))
    return corpus, tokenizer_path


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    corpus, tokenizer = write(Path(argv[0]))
    print(
        f"wrote {corpus} ({corpus.stat().st_size} bytes, {SENTENCES} sentences) and {tokenizer} ({VOCAB_SIZE} tokens)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
