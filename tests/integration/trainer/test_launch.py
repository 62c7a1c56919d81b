"""How `llmtrain-torchrun` starts the training processes of the built-in trainer."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from integration.trainer.runs import base_config, torchrun_command, trainer_env, workers_below, write_config


def _cmdline(pid: int) -> str:
    return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()


def _parent(pid: int) -> int:
    return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])


def test_workers_are_forked_from_a_server_that_has_imported_torch(corpus: Path, tmp_path: Path) -> None:
    config = base_config(corpus, tmp_path)
    config["schedule"]["steps"] = 1000
    process = subprocess.Popen(
        torchrun_command(write_config(tmp_path, config), 2),
        env=trainer_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    try:
        for line in process.stdout:
            if "INFO step 2/" in line:
                break
        workers = workers_below(process.pid, 2)
        assert sorted(workers) == [0, 1]
        servers = {_parent(pid) for pid in workers.values()}
        assert len(servers) == 1, servers
        server = servers.pop()
        # A restarted worker is forked from here: torch is already in its memory.
        assert "multiprocessing.forkserver" in _cmdline(server)
        assert "libtorch_cpu.so" in (Path("/proc") / str(server) / "maps").read_text()
        assert _parent(server) == process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM
