"""The node agent's mount targets: pods starting at the same moment share them safely."""

from __future__ import annotations

import threading
from pathlib import Path

from testenv.agent.podvolumes import Mount, MountPoints


def test_pods_starting_at_once_create_a_shared_mount_target_once(tmp_path: Path) -> None:
    target = tmp_path / "checkpoints" / "run"
    mounts = [Mount(source=tmp_path, target=str(target), read_only=False)]
    points = MountPoints()
    errors: list[BaseException] = []
    held: list[list[tuple[Path, int]]] = []
    for _ in range(20):
        start = threading.Barrier(8)

        def start_pod(start: threading.Barrier = start) -> None:
            start.wait()
            try:
                held.append(points.acquire(mounts))
            except OSError as error:
                errors.append(error)

        threads = [threading.Thread(target=start_pod) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == [] and target.is_dir()
        while held:
            points.release(held.pop())
        assert not target.parent.exists(), "the last pod to stop removes what the agent created"
