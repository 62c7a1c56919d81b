"""The CPU benchmark's own helpers, on a tiny size: both trainers run and the report is whole.

No timing is asserted (the machines are shared, and a benchmark is not a speed test); this
only keeps `bench/trainer_cpu.py` working as the trainer, its config and `transformers`
change.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "bench" / "trainer_cpu.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    # bench/ is not a package; load the script by path. It is registered in sys.modules
    # before it runs because dataclasses look their module up there.
    spec = importlib.util.spec_from_file_location("trainer_cpu_bench", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_ours_from_records_takes_the_steps_after_warm_up(bench: ModuleType) -> None:
    settings = bench.Settings(seq_len=4, batch=2, warmup_steps=1, measured_steps=2)
    records = [
        {"kind": "train", "step": 1, "tokens_per_second": 1.0},  # warm-up: ignored
        {"kind": "train", "step": 2, "tokens_per_second": 8.0},  # 8 tokens in 1 s
        {"kind": "eval", "step": 2, "loss": 1.0},
        {"kind": "train", "step": 3, "tokens_per_second": 2.0},  # 8 tokens in 4 s
    ]
    m = bench.ours_from_records(records, settings)
    assert (m.steps, m.tokens, m.seconds) == (2, 16, pytest.approx(5.0))
    assert m.tokens_per_second == pytest.approx(16 / 5)
    assert m.median_step_ms == pytest.approx(2500.0)


def test_ours_from_records_refuses_missing_steps(bench: ModuleType) -> None:
    settings = bench.Settings(seq_len=4, batch=2, warmup_steps=1, measured_steps=2)
    with pytest.raises(RuntimeError, match="no record of steps"):
        bench.ours_from_records([{"kind": "train", "step": 2, "tokens_per_second": 8.0}], settings)


def test_tiny_benchmark_reports_both_trainers_and_the_ratio(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.json"
    assert (
        bench.main(
            ["--seq-len", "16", "--batch", "2", "--warmup", "1", "--steps", "2", "--threads", "1", "--out", str(out)]
        )
        == 0
    )

    report = json.loads(out.read_text())
    ours, theirs = report["ours"], report["theirs"]
    for m in (ours, theirs):
        assert m["steps"] == 2 and m["tokens"] == 2 * 2 * 16
        assert m["tokens_per_second"] > 0 and m["median_tokens_per_second"] > 0
    assert report["ratio"] == pytest.approx(ours["tokens_per_second"] / theirs["tokens_per_second"])
    assert report["median_ratio"] == pytest.approx(
        ours["median_tokens_per_second"] / theirs["median_tokens_per_second"]
    )
    assert report["settings"]["preset"] == "test" and report["environment"]["torch"]
    printed = capsys.readouterr().out
    assert "llmtrain_trainer" in printed and "transformers.Trainer" in printed and "ratio ours/theirs" in printed
