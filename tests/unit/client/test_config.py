"""Which cluster and namespace the client uses, decided as kubectl decides it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llmtrain import ConfigError, TrainingClient


def _kubeconfig(path: Path, contexts: dict[str, str | None], current: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [
            {"name": name, "context": {"cluster": "c", "user": "u", **({"namespace": ns} if ns else {})}}
            for name, ns in contexts.items()
        ],
        "current-context": current,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_namespace_is_the_explicit_one_else_the_contexts_else_default(tmp_path: Path) -> None:
    config = _kubeconfig(tmp_path / "config", {"team": "nlp", "bare": None}, current="team")
    assert TrainingClient(kubeconfig=config).namespace == "nlp"
    assert TrainingClient(kubeconfig=config, namespace="vision").namespace == "vision"
    assert TrainingClient(kubeconfig=config, context="bare").namespace == "default"
    assert TrainingClient(kubeconfig=config).server == "https://127.0.0.1:1"


def test_kubeconfig_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _kubeconfig(tmp_path / "config", {"team": "speech"}, current="team")
    monkeypatch.setenv("KUBECONFIG", f"{config}:{tmp_path / 'other'}")
    assert TrainingClient().namespace == "speech"


def test_no_configuration_is_a_config_error_saying_what_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ConfigError) as raised:
        TrainingClient()
    assert "KUBECONFIG" in raised.value.hint


def test_an_unknown_context_is_a_config_error(tmp_path: Path) -> None:
    config = _kubeconfig(tmp_path / "config", {"team": "nlp"}, current="team")
    with pytest.raises(ConfigError, match="missing"):
        TrainingClient(kubeconfig=config, context="missing")


def test_in_namespace_changes_only_the_namespace(tmp_path: Path) -> None:
    config = _kubeconfig(tmp_path / "config", {"team": "nlp"}, current="team")
    client = TrainingClient(kubeconfig=config)
    other = client.in_namespace("vision")
    assert (client.namespace, other.namespace) == ("nlp", "vision")
    assert other.server == client.server
