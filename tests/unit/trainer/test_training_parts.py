"""Schedule, parallel layout, metrics and config handling."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from llmtrain.api.trainer import ParallelismConfig, ScheduleConfig, TrainerConfig
from llmtrain_trainer.checkpoint import Owner
from llmtrain_trainer.config import RunEnv, load_config
from llmtrain_trainer.distributed import ParallelDims
from llmtrain_trainer.errors import TrainerError
from llmtrain_trainer.metrics import PrometheusExporter, StepMetrics, peak_flops
from llmtrain_trainer.optim import WarmupDecay

CONFIG = {"model": {"preset": "test"}, "data": {"paths": ["/data"]}}


@pytest.mark.parametrize("decay", ["cosine", "linear", "constant"])
def test_schedule_warms_up_to_the_peak_then_decays_to_the_floor(decay: str) -> None:
    schedule = WarmupDecay(ScheduleConfig(steps=100, warmup_steps=10, decay=decay, min_lr_ratio=0.1))
    warmup = [schedule(s) for s in range(11)]
    assert warmup == sorted(warmup) and warmup[0] < 0.1 and warmup[10] == 1.0
    expected_end = 1.0 if decay == "constant" else 0.1
    assert schedule(100) == pytest.approx(expected_end)
    assert schedule(55) == pytest.approx(1.0 if decay == "constant" else 0.55)


def test_parallel_dims() -> None:
    assert ParallelDims.from_config(ParallelismConfig(strategy="fsdp", tensor_parallel=2), 8, 8) == ParallelDims(
        1, 4, 2
    )
    assert ParallelDims.from_config(ParallelismConfig(strategy="hsdp"), 16, 8) == ParallelDims(2, 8, 1)
    assert ParallelDims.from_config(ParallelismConfig(strategy="ddp"), 4, 4) == ParallelDims(4, 1, 1)
    with pytest.raises(TrainerError, match="needs strategy fsdp"):
        ParallelDims.from_config(ParallelismConfig(strategy="ddp", tensor_parallel=2), 8, 8)
    with pytest.raises(TrainerError, match="does not divide the world size"):
        ParallelDims.from_config(ParallelismConfig(tensor_parallel=3), 8, 8)


def test_peak_flops_by_device_name() -> None:
    assert peak_flops("NVIDIA H100 80GB HBM3", None) == 989e12
    assert peak_flops("NVIDIA H100 PCIe", None) == 756e12
    assert peak_flops("NVIDIA L40S", None) == 362e12
    assert peak_flops("NVIDIA L4", None) == 121e12
    assert peak_flops("cpu", None) is None
    assert peak_flops("cpu", 1e12) == 1e12


def test_prometheus_serves_the_design_names() -> None:
    exporter = PrometheusExporter()
    port = exporter.serve(0, "127.0.0.1")
    exporter.update(
        StepMetrics(
            step=7,
            total_steps=10,
            loss=2.5,
            learning_rate=1e-4,
            grad_norm=0.5,
            tokens_per_second=1000.0,
            tokens_per_second_per_device=500.0,
            tokens_total=7000,
            mfu=0.4,
            memory_peak_bytes=123,
            data_loading_share=0.01,
        )
    )
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    for name, value in [
        ("step", "7.0"),
        ("total_steps", "10.0"),
        ("loss", "2.5"),
        ("learning_rate", "0.0001"),
        ("grad_norm", "0.5"),
        ("tokens_per_second", "1000.0"),
        ("tokens_total", "7000.0"),
        ("mfu", "0.4"),
        ("checkpoint_step", "0.0"),
        ("gpu_memory_peak_bytes", "123.0"),
    ]:
        assert f"\nllmtrain_{name} {value}\n" in text


def test_config_errors_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**CONFIG, "batch": {"microBatchSize": 0}, "precision": "fp8"}))
    with pytest.raises(TrainerError) as error:
        load_config(path)
    message = str(error.value)
    assert "\n" not in message
    assert "batch.microBatchSize: " in message and "precision: " in message


def test_environment_overrides_the_checkpoint_dir_and_binds_metrics_to_the_pod_ip() -> None:
    config = TrainerConfig.model_validate({**CONFIG, "checkpoint": {"dir": "/from-config"}})
    env = RunEnv.from_environ(
        {"LLMTRAIN_CHECKPOINT_DIR": "/ckpt", "POD_IP": "10.0.0.7", "LLMTRAIN_ATTEMPT": "2", "LLMTRAIN_JOB_NAME": "gpt"},
        config,
    )
    assert env == RunEnv(
        job_name="gpt", attempt=2, checkpoint_dir=Path("/ckpt"), metrics_port=9400, metrics_address="10.0.0.7"
    )
    fallback = RunEnv.from_environ({}, config)
    assert (fallback.checkpoint_dir, fallback.metrics_address) == (Path("/from-config"), "0.0.0.0")


def test_the_job_in_the_environment_owns_the_checkpoints() -> None:
    environ = {
        "LLMTRAIN_JOB_NAME": "gpt",
        "LLMTRAIN_JOB_NAMESPACE": "ml",
        "LLMTRAIN_JOB_UID": "u-1",
        "LLMTRAIN_CHECKPOINT_DIR": "",
        "LLMTRAIN_METRICS_PORT": "9500",
    }
    env = RunEnv.from_environ(environ, TrainerConfig.model_validate(CONFIG))
    assert (env.owner, env.checkpoint_dir, env.metrics_port) == (Owner("ml", "gpt", "u-1"), None, 9500)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LLMTRAIN_ATTEMPT", "first"),
        ("LLMTRAIN_ATTEMPT", "-1"),
        ("LLMTRAIN_METRICS_PORT", "http"),
        ("LLMTRAIN_METRICS_PORT", "70000"),
    ],
)
def test_a_bad_variable_is_a_trainer_error_that_names_it(variable: str, value: str) -> None:
    with pytest.raises(TrainerError) as raised:
        RunEnv.from_environ({variable: value, "LLMTRAIN_JOB_NAME": "gpt"}, TrainerConfig.model_validate(CONFIG))
    assert f"{variable}={value!r}: Input should be " in str(raised.value) and "\n" not in str(raised.value)
