"""The installed `llmtrain` console script, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from llmtrain.cli.exitcodes import Exit

LLMTRAIN = Path(sys.executable).parent / "llmtrain"


def test_validate_a_bad_file_exits_2_naming_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "job.yaml"
    generated = subprocess.run(
        [LLMTRAIN, "generate", "pretrain", "gpt", "--data", "/d/a.bin"], capture_output=True, text=True, check=True
    )
    bad.write_text(generated.stdout.replace("gpus: 8", "gpus: 8\n  procsPerNode: 3\n  shmSize: lots"))
    result = subprocess.run([LLMTRAIN, "validate", str(bad)], capture_output=True, text=True)
    assert result.returncode == Exit.INVALID
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == f"error: {bad} is not a valid LLMTrainingJob:"
    assert any(line.startswith("  spec.shmSize: ") for line in lines)
    assert "Traceback" not in result.stderr


def test_help_and_version_work_from_the_console_script() -> None:
    helped = subprocess.run([LLMTRAIN, "--help"], capture_output=True, text=True)
    assert helped.returncode == 0
    assert "Exit codes:" in helped.stdout and "Usage: llmtrain" in helped.stdout
    version = subprocess.run([sys.executable, "-m", "llmtrain.cli", "--version"], capture_output=True, text=True)
    assert version.stdout.strip() == "llmtrain, version 0.1.0"
