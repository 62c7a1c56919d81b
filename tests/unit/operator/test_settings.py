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
        ("LLMTRAIN_SCRAPE_INTERVAL_SECONDS", "nan"),
        ("LLMTRAIN_METRICS_PORT", "70000"),
        ("LLMTRAIN_HEALTH_PORT", "http"),
        ("LLMTRAIN_TRAINER_METRICS_PORT", "0"),
        ("LLMTRAIN_LOG_LEVEL", "LOUD"),
        ("LLMTRAIN_LOG_FORMAT", "xml"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ValueError, match=variable):
        OperatorSettings.from_env({variable: value})


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("LLMTRAIN_LOG_LEVEL", "LOUD", "'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
        ("LLMTRAIN_LOG_FORMAT", "xml", "'json' or 'plain'"),
        ("LLMTRAIN_METRICS_PORT", "70000", "less than or equal to 65535"),
        ("LLMTRAIN_SCRAPE_INTERVAL_SECONDS", "-1", "greater than 0"),
    ],
)
def test_a_bad_value_says_what_is_allowed(variable: str, value: str, allowed: str) -> None:
    with pytest.raises(ValueError) as raised:
        OperatorSettings.from_env({variable: value, "LLMTRAIN_PEERING": "fine"})
    assert str(raised.value) == f"{variable}={value!r}: Input should be {allowed}"


def test_every_bad_value_is_named_at_once() -> None:
    with pytest.raises(ValueError) as raised:
        OperatorSettings.from_env({"LLMTRAIN_HEALTH_PORT": "0", "LLMTRAIN_LOG_FORMAT": "xml"})
    assert "LLMTRAIN_HEALTH_PORT='0'" in str(raised.value) and "LLMTRAIN_LOG_FORMAT='xml'" in str(raised.value)


def test_empty_variables_count_as_unset_and_the_process_environment_is_read_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert OperatorSettings.from_env(
        {"LLMTRAIN_METRICS_PORT": "", "LLMTRAIN_LOG_LEVEL": ""}
    ) == OperatorSettings.from_env({})
    monkeypatch.setenv("LLMTRAIN_GPU_RESOURCE", "amd.com/gpu")
    monkeypatch.setenv("LLMTRAIN_NAMESPACES", "ml")
    assert OperatorSettings.from_env().gpu_resource == "amd.com/gpu" and OperatorSettings().namespaces == ("ml",)
    # A mapping is all that is read: the process's environment does not leak into it.
    assert OperatorSettings.from_env({}).gpu_resource == "nvidia.com/gpu"
