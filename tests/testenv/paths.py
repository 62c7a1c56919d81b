"""Where the repository, its virtual environment and the built binaries are."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = REPO_ROOT / "bin"
VENV_BIN = REPO_ROOT / ".venv" / "bin"
PODNET_SHIM = BIN_DIR / "libtestenv-podnet.so"


def binary(name: str) -> Path:
    """Path of a binary built by `make testenv`, building them first when one is missing."""
    path = BIN_DIR / name
    if not path.exists():
        subprocess.run(["make", "-C", str(REPO_ROOT), "testenv"], check=True)
    return path
