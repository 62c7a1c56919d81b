"""Fine-tuning on prompt/response jsonl, with background checkpoint saves and the tokenizer exported."""

from __future__ import annotations

import json
import random
from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer

from integration.trainer.runs import run_to_end, word_tokenizer, write_config

WORDS = ["red", "green", "blue", "cat", "dog", "bird", "one", "two", "three", "big", "small", "fast", "slow"]


def test_sft_run_learns_the_responses_and_exports_model_and_tokenizer(tmp_path: Path) -> None:
    tokenizer = word_tokenizer(tmp_path / "tokenizer.json", WORDS)
    rng = random.Random(0)
    with (tmp_path / "train.jsonl").open("w") as f:
        for _ in range(256):
            prompt = [rng.choice(WORDS) for _ in range(6)]
            f.write(json.dumps({"prompt": " ".join(prompt), "response": " ".join(reversed(prompt[:3]))}) + "\n")
    config = {
        "model": {"preset": "test"},
        "data": {
            "format": "sft",
            "paths": [str(tmp_path / "train.jsonl")],
            "tokenizer": str(tokenizer),
            "seqLen": 16,
            "numWorkers": 1,
            "validationFraction": 0.1,
        },
        "objective": "sft",
        "batch": {"microBatchSize": 8, "gradientAccumulationSteps": 1},
        "precision": "fp32",
        "parallelism": {"strategy": "fsdp", "compile": False},
        "optimizer": {"lr": 1e-2},
        "schedule": {"steps": 40, "warmupSteps": 2},
        "checkpoint": {"interval": 10, "keep": 2, "asyncSave": True, "dir": str(tmp_path / "checkpoints")},
        "eval": {"interval": 20, "steps": 2},
        "logging": {"interval": 5, "metricsFile": str(tmp_path / "metrics.jsonl")},
    }
    run = run_to_end(write_config(tmp_path, config), tmp_path, 2)
    assert run.returncode == 0, run.output[-3000:]
    losses = run.losses
    assert losses[40] < losses[5] - 0.5
    # keep 2: the older background saves were pruned once newer ones were complete.
    assert sorted(p.name for p in run.checkpoints.iterdir()) == ["hf", "step-00000030", "step-00000040"]

    exported = run.checkpoints / "hf"
    model = AutoModelForCausalLM.from_pretrained(exported, local_files_only=True)
    loaded = AutoTokenizer.from_pretrained(exported, local_files_only=True)
    ids = loaded("red cat one two dog big", return_tensors="pt")["input_ids"]
    assert ids.shape == (1, 6) and model(ids).logits.shape == (1, 6, 512)
