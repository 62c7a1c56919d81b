"""Cluster problems that need no cluster to show: no configuration, nothing listening."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from llmtrain.cli import cli
from llmtrain.cli.exitcodes import Exit


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def nowhere(tmp_path: Path, closed_port: int) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "c", "cluster": {"server": f"https://127.0.0.1:{closed_port}", "insecure-skip-tls-verify": True}}
        ],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("command", [["list"], ["get", "gpt"], ["logs", "gpt"], ["delete", "gpt"], ["describe", "gpt"]])
def test_an_unreachable_cluster_is_one_sentence_and_exit_4(nowhere: Path, closed_port: int, command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--kubeconfig", str(nowhere)])
    assert result.exit_code == Exit.CLUSTER, result.output
    first, hint = result.stderr.splitlines()
    assert first.startswith(f"error: Cannot reach the Kubernetes API server at https://127.0.0.1:{closed_port}")
    assert "kubectl cluster-info" in hint
    assert "Traceback" not in result.stderr


def test_debug_adds_the_traceback(nowhere: Path) -> None:
    result = CliRunner().invoke(cli, ["list", "--kubeconfig", str(nowhere), "--debug"])
    assert result.exit_code == Exit.CLUSTER
    assert "Traceback (most recent call last)" in result.stderr
    assert "error: Cannot reach the Kubernetes API server" in result.stderr


def test_no_kubeconfig_says_what_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    result = CliRunner().invoke(cli, ["list"])
    assert result.exit_code == Exit.CLUSTER
    assert result.stderr.startswith("error: No usable Kubernetes configuration")
    assert "KUBECONFIG" in result.stderr
