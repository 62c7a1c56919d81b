"""Which cluster and namespace the client uses, decided as kubectl decides it."""

from __future__ import annotations

import os
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
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(config), str(tmp_path / "other")]))
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


def _write(path: Path, **config: object) -> Path:
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", **config}))
    return path


def test_every_file_of_kubeconfig_is_merged_as_kubectl_merges_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first file's context needs the second file's user; a name both files define is the first file's.
    first = _write(
        tmp_path / "first",
        clusters=[{"name": "c", "cluster": {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True}}],
        contexts=[{"name": "team", "context": {"cluster": "c", "user": "u", "namespace": "nlp"}}],
        **{"current-context": "team"},
    )
    second = _write(
        tmp_path / "second",
        clusters=[{"name": "c", "cluster": {"server": "https://127.0.0.1:2", "insecure-skip-tls-verify": True}}],
        users=[{"name": "u", "user": {"token": "t"}}],
        contexts=[
            {"name": "team", "context": {"cluster": "c", "user": "u", "namespace": "ignored"}},
            {"name": "other", "context": {"cluster": "c", "user": "u", "namespace": "vision"}},
        ],
        **{"current-context": "other"},
    )
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(first), str(tmp_path / "missing"), str(second)]))
    client = TrainingClient()
    assert (client.namespace, client.server) == ("nlp", "https://127.0.0.1:1")
    assert TrainingClient(context="other").namespace == "vision"
    # The current context is that of the first file that sets one.
    _write(first, **{k: v for k, v in yaml.safe_load(first.read_text()).items() if k != "current-context"})
    assert TrainingClient().namespace == "vision"


def test_a_kubeconfig_list_of_missing_files_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")]))
    with pytest.raises(ConfigError, match="no kubeconfig at"):
        TrainingClient()
