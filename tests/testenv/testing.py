"""Helpers for tests against the fixtures: pod manifests, applying objects, waiting."""

from __future__ import annotations

import json
from typing import Any

from testenv.polling import eventually
from testenv.pytest_plugin import Kubectl

__all__ = ["apply", "eventually", "get", "python_pod", "wait_phase"]


def python_pod(name: str, code: str, **spec: Any) -> dict[str, Any]:
    """A pod whose single container `main` runs `python -c code` (restartPolicy Never)."""
    container = {"name": "main", "image": "python:3.11", "command": ["python", "-c", code]}
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, **spec.pop("metadata", {})},
        "spec": {"restartPolicy": "Never", "containers": [container], **spec},
    }


def apply(kubectl: Kubectl, *objects: dict[str, Any]) -> None:
    kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}))


def get(kubectl: Kubectl, *args: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(kubectl("get", *args, "-o", "json").stdout)
    return result


def wait_phase(kubectl: Kubectl, pod: str, *phases: str, timeout: float = 30) -> dict[str, Any]:
    """The pod, once its phase is one of `phases`."""

    def check() -> dict[str, Any] | None:
        obj = get(kubectl, "pod", pod)
        return obj if obj.get("status", {}).get("phase") in phases else None

    return eventually(check, timeout)
