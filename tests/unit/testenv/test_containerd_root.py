"""A containerd root copied for another node (or kept for later clusters) shares the blobs
and unpacked layers, which containerd never rewrites, and owns its databases, which it does."""

from __future__ import annotations

from pathlib import Path

from testenv.containers.containerd import BOLT_DATABASES, copy_root


def test_a_copied_root_links_its_layers_and_owns_its_databases(tmp_path: Path) -> None:
    source = tmp_path / "root"
    blob = source / "io.containerd.content.v1.content" / "blobs" / "sha256" / "0123"
    layer = source / "io.containerd.snapshotter.v1.overlayfs" / "snapshots" / "1" / "fs" / "usr" / "bin" / "python"
    for path in (blob, layer, *(source / database for database in BOLT_DATABASES)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(path.name)
    destination = tmp_path / "nodes" / "node-1" / "root"
    destination.mkdir(parents=True)
    (destination / "stale").write_text("left by an earlier run")

    copy_root(source, destination)

    for shared in (blob, layer):
        assert (destination / shared.relative_to(source)).stat().st_ino == shared.stat().st_ino
    for database in BOLT_DATABASES:
        copied = destination / database
        assert copied.read_text() == Path(database).name
        assert copied.stat().st_ino != (source / database).stat().st_ino
        copied.write_text("written by the node")
        assert (source / database).read_text() == Path(database).name
    assert not (destination / "stale").exists()
