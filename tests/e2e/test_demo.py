"""`make demo` itself: its module run as a subprocess on its own local cluster (a directory
of the test's, so a cluster a developer keeps in .localcluster is left alone). It must exit
0 having trained the tiny job through the CLI, exported a loadable model and generated
text with it, and stopped the cluster it started."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from e2e.demo.model import PROMPT
from testenv.localcluster import LocalClusterSettings, running_pid
from testenv.paths import REPO_ROOT


def test_the_demo_trains_exports_and_generates(tmp_path: Path) -> None:
    directory = tmp_path / "cluster"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "tests")}
    result = subprocess.run(
        [sys.executable, "-m", "e2e.demo", f"--dir={directory}"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]

    for number in range(1, 8):
        assert f"==> [{number}/7]" in output, f"step {number} is announced"
    assert "llmtrainingjob/tiny-cpu created" in output, "the CLI submitted the example"
    assert re.search(r"tiny-cpu Succeeded in \S+: step \d+/300, loss [\d.]+", output), output[-3000:]

    # The export is a Hugging Face model directory on the checkpoint claim, next to the
    # final checkpoint of step 300.
    exports = list(directory.glob("state/node-agent/volumes/*/default/tiny-cpu/hf"))
    assert len(exports) == 1, exports
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in exports[0].iterdir()}
    assert (exports[0].parent / "step-00000300").is_dir()
    assert "checkpoint of step 300: /checkpoints/default/tiny-cpu/step-00000300" in output
    generated = re.search(r"generated:\s+'(.*)'", output)
    assert generated is not None, output[-3000:]
    text = generated.group(1)
    assert text.startswith(PROMPT) and len(text.split()) > len(PROMPT.split()) + 3, text

    assert running_pid(LocalClusterSettings(directory=directory)) is None, "the demo stopped its cluster"
