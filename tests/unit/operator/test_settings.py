"""Operator settings from the environment: defaults, parsing, and errors that name the variable."""

from __future__ import annotations

import pytest

from llmtrain_operator.settings import OperatorSettings


def test_defaults_without_environment() -> None:
    settings = OperatorSettings.from_env({})
    assert settings == OperatorSettings()
    assert (settings.gpu_resource, settings.namespaces, settings.trainer_metrics_port) == ("nvidia.com/gpu", (), 9400)
    assert settings.default_image == "llmtrain/trainer:0.1.0" and settings.log_format == "json"


def test_every_variable_is_read() -> None:
    settings = OperatorSettings.from_env(
        {
            "LLMTRAIN_DEFAULT_IMAGE": "reg/trainer:1",
            "LLMTRAIN_GPU_RESOURCE": "amd.com/gpu",
            "LLMTRAIN_NAMESPACES": "team-a, team-b,",
            "LLMTRAIN_SCRAPE_INTERVAL_SECONDS": "2.5",
            "LLMTRAIN_METRICS_PORT": "9090",
            "LLMTRAIN_HEALTH_PORT": "9091",
            "LLMTRAIN_PEERING": "llmtrain",
            "LLMTRAIN_LOG_LEVEL": "debug",
            "LLMTRAIN_LOG_FORMAT": "PLAIN",
        }
    )
    assert settings.namespaces == ("team-a", "team-b") and settings.scrape_interval_seconds == 2.5
    assert (settings.metrics_port, settings.health_port, settings.peering) == (9090, 9091, "llmtrain")
    assert (settings.log_level, settings.log_format, settings.gpu_resource) == ("DEBUG", "plain", "amd.com/gpu")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LLMTRAIN_SCRAPE_INTERVAL_SECONDS", "soon"),
        ("LLMTRAIN_SCRAPE_INTERVAL_SECONDS", "0"),
        ("LLMTRAIN_METRICS_PORT", "70000"),
        ("LLMTRAIN_LOG_LEVEL", "LOUD"),
        ("LLMTRAIN_LOG_FORMAT", "xml"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ValueError, match=variable):
        OperatorSettings.from_env({variable: value})
