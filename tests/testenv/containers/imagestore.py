"""The node images unpacked once: a containerd root that holds every image the nodes need,
kept under bin/images/ and keyed by the images' keys and containerd's version.

Importing the trainer image (about 4 GB) into containerd takes minutes; starting a node from
hard links to a root that already holds it takes a second. The first cluster after a rebuilt
image imports into its first node and saves that root here; every later cluster, and every
node of the first, starts from a copy. Only the newest root is kept.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

from testenv.containers.containerd import Containerd
from testenv.images import IMAGES_DIR, ImageArchive

STORE_DIR = IMAGES_DIR / "containerd"
# Part of every key: bump it when what a saved root holds, or how, changes.
KEY_FORMAT = "1"


def saved_root(images: Mapping[str, ImageArchive]) -> Path:
    """Where the root holding `images` is (or will be) kept; it exists once saved."""
    version = subprocess.run(["containerd", "--version"], capture_output=True, text=True, check=True).stdout
    parts = [KEY_FORMAT, version.strip(), *sorted(f"{image.ref}={image.key}" for image in images.values())]
    return STORE_DIR / hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _save(containerd: Containerd, root: Path) -> None:
    """Keep the images of `containerd` (stopped, holding just those images) at `root`, and
    drop every older root."""
    partial = root.with_name(f"{root.name}.partial-{os.getpid()}")
    containerd.copy_root_to(partial)
    partial.rename(root)
    for other in STORE_DIR.iterdir():
        if other.is_dir() and other != root:
            shutil.rmtree(other, ignore_errors=True)


def load_or_import(nodes: list[Containerd], images: Mapping[str, ImageArchive]) -> None:
    """Give every node's containerd (not started yet) the images: from the saved root when
    there is one, else imported into the first node, saved, then copied to the others."""
    root = saved_root(images)
    STORE_DIR.mkdir(parents=True, exist_ok=True)
    with _locked():
        if not root.is_dir():
            first = nodes[0]
            first.start()
            try:
                for image in images.values():
                    first.import_image(image.archive)
            finally:
                first.stop()
            _save(first, root)
        for containerd in nodes:
            containerd.copy_root_from(root)


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    # Two sessions would import the same images at once, or one would remove the root
    # another is copying.
    with open(STORE_DIR / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
