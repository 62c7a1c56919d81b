"""The control plane behaves like a real cluster: CRD validation with CEL, garbage
collection, RBAC for ServiceAccounts."""

from __future__ import annotations

import json

import pytest

from testenv import ControlPlane
from testenv.kubeapi import ApiError, KubeAPI
from testenv.pytest_plugin import Kubectl
from testenv.testing import apply, eventually, get

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.testenv.llmtrain.dev"},
    "spec": {
        "group": "testenv.llmtrain.dev",
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
                                "x-kubernetes-validations": [
                                    {"rule": "self.min <= self.max", "message": "min must not exceed max"}
                                ],
                            }
                        },
                    }
                },
            }
        ],
    },
}


def widget(name: str, low: int, high: int) -> dict[str, object]:
    return {
        "apiVersion": "testenv.llmtrain.dev/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"min": low, "max": high},
    }


def test_crd_cel_rule_refuses_bad_object(control_plane: ControlPlane, kubectl: Kubectl) -> None:
    apply(kubectl, CRD)
    control_plane.kubectl("wait", "--for=condition=Established", "crd/widgets.testenv.llmtrain.dev")
    apply(kubectl, widget("good", 1, 2))
    refused = kubectl("apply", "-f", "-", input=json.dumps(widget("bad", 3, 2)), check=False)
    assert refused.returncode != 0
    assert "min must not exceed max" in refused.stderr
    assert [w["metadata"]["name"] for w in get(kubectl, "widgets")["items"]] == ["good"]


def test_owner_referenced_child_is_garbage_collected(kubectl: Kubectl) -> None:
    kubectl("create", "configmap", "owner")
    owner = get(kubectl, "configmap", "owner")
    child = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "child",
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
            ],
        },
    }
    apply(kubectl, child)
    kubectl("delete", "configmap", "owner")
    eventually(lambda: kubectl("get", "configmap", "child", check=False).returncode != 0, timeout=30)


def test_service_account_without_role_is_refused(control_plane: ControlPlane, namespace: str) -> None:
    config = control_plane.service_account_kubeconfig(namespace, "nobody")
    refused = control_plane.kubectl("get", "pods", "-n", namespace, kubeconfig=config, check=False)
    assert refused.returncode != 0
    assert "(Forbidden)" in refused.stderr
    with pytest.raises(ApiError) as error:
        KubeAPI(config).get(f"/api/v1/namespaces/{namespace}/pods")
    assert error.value.status == 403

    control_plane.kubectl("create", "role", "pod-reader", "--verb=get,list", "--resource=pods", "-n", namespace)
    control_plane.kubectl(
        "create", "rolebinding", "nobody-reads", "--role=pod-reader",
        f"--serviceaccount={namespace}:nobody", "-n", namespace,
    )  # fmt: skip
    eventually(
        lambda: control_plane.kubectl("get", "pods", "-n", namespace, kubeconfig=config, check=False).returncode == 0
    )
