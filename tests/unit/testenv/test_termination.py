"""The node agent's termination messages follow the kubelet's rules and limits, on real files."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from testenv.agent import termination
from testenv.agent.podvolumes import Mount, MountPoints
from testenv.agent.termination import message


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    """A fresh message file as the agent makes it, and a log with 100 short lines."""
    log = tmp_path / "0.log"
    log.write_text("".join(f"line {i:03d}\n" for i in range(100)))
    return termination.create_file(tmp_path / "pod", "main"), log


def test_message_file_is_new_empty_and_world_writable(tmp_path: Path) -> None:
    first = termination.create_file(tmp_path, "main")
    second = termination.create_file(tmp_path, "main")
    assert first != second and first.parent == tmp_path / "containers" / "main"
    assert first.read_bytes() == b"" and stat.S_IMODE(first.stat().st_mode) == 0o666


def test_policy_file_reads_only_the_file(files: tuple[Path, Path]) -> None:
    file, log = files
    assert message(file, "File", 1, log) == ""
    file.write_text("oom in step 7\n")
    assert message(file, "File", 1, log) == "oom in step 7\n"
    assert message(file, "File", 0, log) == "oom in step 7\n", "the file counts on success too"


def test_fallback_only_when_the_file_is_empty_and_the_exit_code_not_zero(files: tuple[Path, Path]) -> None:
    file, log = files
    tail = "".join(f"line {i:03d}\n" for i in range(20, 100))
    assert message(file, "FallbackToLogsOnError", 1, log) == tail
    assert message(None, "FallbackToLogsOnError", 1, log) == tail, "no file mounted reads the log too"
    assert message(file, "FallbackToLogsOnError", 0, log) == ""
    file.write_text("from the file")
    assert message(file, "FallbackToLogsOnError", 1, log) == "from the file"


def test_file_keeps_its_last_4096_bytes(files: tuple[Path, Path]) -> None:
    file, log = files
    text = "".join(f"{i:04d}" for i in range(1250))
    file.write_text(text)
    assert message(file, "File", 1, log) == text[-4096:]


def test_log_keeps_the_last_2048_bytes_of_the_last_80_lines(files: tuple[Path, Path]) -> None:
    file, log = files
    text = "".join(f"{i:03d} " + "x" * 95 + "\n" for i in range(50)) + "no newline at the end"
    log.write_text(text)
    assert message(file, "FallbackToLogsOnError", 137, log) == text[-2048:]
    log.write_text("a\r\nb\rc\n" + "".join(f"{i}\n" for i in range(79)))
    assert message(file, "FallbackToLogsOnError", 1, log).startswith("b\rc\n0\n"), "only \\n ends a line"


def test_pod_limit_cuts_each_message_from_its_end(files: tuple[Path, Path]) -> None:
    file, log = files
    text = "".join(f"{i:04d}" for i in range(1250))
    file.write_text(text)
    spec: dict[str, list[dict[str, str]]] = {"containers": [{}, {}, {}], "initContainers": [{}]}
    assert termination.per_container_limit(spec) == 3072
    assert message(file, "File", 1, log, termination.per_container_limit(spec)) == text[-4096:][:3072]


def test_bytes_cut_inside_a_character_become_one_replacement_each(files: tuple[Path, Path]) -> None:
    file, log = files
    # 4098 bytes: the last 4096 begin with the last byte of a euro sign; the pod limit of
    # 3072 (4 containers) then ends two bytes into one, which Go's JSON writes as two U+FFFD.
    file.write_bytes("€".encode() * 1366)
    assert message(file, "File", 1, log) == "\ufffd" + "€" * 1365
    assert message(file, "File", 1, log, 3072) == "\ufffd" + "€" * 1023 + "\ufffd\ufffd"


def test_mount_target_that_is_a_file_is_created_and_removed(tmp_path: Path) -> None:
    source = termination.create_file(tmp_path, "main")
    target = tmp_path / "new" / "dev" / "termination-log"
    points = MountPoints()
    held = points.acquire([Mount(source, str(target), read_only=False)])
    assert target.is_file()
    points.release(held)
    assert not (tmp_path / "new").exists()


def test_mount_targets_half_made_are_removed_when_one_fails(tmp_path: Path) -> None:
    (tmp_path / "plain-file").write_text("")
    made = tmp_path / "made"
    mounts = [
        Mount(tmp_path, str(made), read_only=False),
        Mount(tmp_path, str(tmp_path / "plain-file" / "below"), read_only=False),
    ]
    with pytest.raises(NotADirectoryError):
        MountPoints().acquire(mounts)
    # Its lock released, the failed pod was the last user of what it created.
    assert not made.exists()
