"""What a rank loads before it trains: a job on pre-tokenized data with a built-in model
never imports `transformers` (seconds per rank per attempt) nor the SDK's client."""

from __future__ import annotations

import subprocess
import sys


def test_the_entry_point_loads_neither_transformers_nor_the_client() -> None:
    probe = (
        "import sys, llmtrain_trainer.__main__\n"
        "from llmtrain.api.trainer import ModelConfig\n"
        "from llmtrain_trainer.models import build_model\n"
        "build_model(ModelConfig(preset='test'))\n"
        "print(' '.join(m for m in ('transformers', 'kubernetes', 'llmtrain.client') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.split() == []
