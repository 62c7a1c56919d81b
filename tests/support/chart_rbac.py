"""The Helm chart, rendered with the real `helm` binary (built into bin/ by `make testenv`).

The chart is the single source of the operator's RBAC: tests that run the operator import
`operator_rules` or `operator_rbac_objects` and apply exactly what the chart installs, so a
verb the operator needs and the chart lacks fails them.

    from support.chart_rbac import SERVICE_ACCOUNT, operator_rbac_objects
    apply(kubectl, *operator_rbac_objects(namespace))   # ServiceAccount, ClusterRole, binding
    kubeconfig = control_plane.service_account_kubeconfig(namespace, SERVICE_ACCOUNT, create=False)
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from testenv.paths import REPO_ROOT, binary

CHART_DIR = REPO_ROOT / "charts" / "llmtrain-operator"
INSTALL_MANIFEST = REPO_ROOT / "manifests" / "install.yaml"
DEFAULT_RELEASE = "llmtrain-operator"
DEFAULT_NAMESPACE = "llmtrain-system"
# The ServiceAccount of `operator_rbac_objects` (the chart's default name).
SERVICE_ACCOUNT = "llmtrain-operator"

Obj = dict[str, Any]

# What the operator does, and nothing more: (apiGroup, resource) -> verbs. The chart's rules
# must be exactly these (plus PEERING_VERBS on the kopf peering resource with replicas > 1);
# the chart tests compare both ways, so a missing verb and an extra one both fail. It is the
# requests the operator makes, as the API server's audit log shows them
# (tests/integration/operator/test_rbac_audit.py), plus update on the jobs' finalizers, which
# an admission plugin checks on the children it creates (never a request of its own).
OPERATOR_CONTRACT: dict[tuple[str, str], frozenset[str]] = {
    ("llmtrain.dev", "llmtrainingjobs"): frozenset({"list", "watch", "delete"}),
    ("llmtrain.dev", "llmtrainingjobs/status"): frozenset({"patch"}),
    ("llmtrain.dev", "llmtrainingjobs/finalizers"): frozenset({"update"}),
    ("", "pods"): frozenset({"list", "watch", "create", "delete"}),
    ("", "services"): frozenset({"create"}),
    ("", "configmaps"): frozenset({"create", "patch"}),
    ("", "events"): frozenset({"create"}),
    ("scheduling.x-k8s.io", "podgroups"): frozenset({"create"}),
    ("scheduling.volcano.sh", "podgroups"): frozenset({"create"}),
}
# kopf's peering: it lists and watches the peering object and patches its own entry in it.
PEERING_VERBS = frozenset({"list", "watch", "patch"})


def helm_binary() -> Path:
    """The helm binary of bin/ (built by `make testenv` when missing)."""
    return binary("helm")


def helm(
    *args: str,
    check: bool = True,
    kubeconfig: Path | None = None,
    input: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run the real helm; `kubeconfig` selects the cluster for commands that talk to one."""
    argv = [str(helm_binary()), *args]
    if kubeconfig is not None:
        argv.append(f"--kubeconfig={kubeconfig}")
    result = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT)
    if check and result.returncode != 0:
        # pytest prints a CalledProcessError without its output: say what helm said.
        raise AssertionError(f"helm {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result


def values_args(values: Mapping[str, Any] | None = None, values_files: Iterable[Path] = ()) -> list[str]:
    """`-f` arguments: each file, then `-` (standard input) when `values` are given; pass
    `values_input(values)` as the input of the command."""
    args: list[str] = []
    for path in values_files:
        args += ["-f", str(path)]
    if values:
        args += ["-f", "-"]
    return args


def values_input(values: Mapping[str, Any] | None) -> str | None:
    """The standard input for `values_args`: the values as JSON (which is YAML)."""
    return json.dumps(dict(values)) if values else None


def template(
    values: Mapping[str, Any] | None = None,
    *,
    values_files: Iterable[Path] = (),
    release: str = DEFAULT_RELEASE,
    namespace: str = DEFAULT_NAMESPACE,
    extra_args: Sequence[str] = (),
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """`helm template` of the chart (its stdout is the manifest)."""
    return helm(
        "template", release, str(CHART_DIR), "--namespace", namespace,
        *values_args(values, values_files), *extra_args,
        input=values_input(values), check=check,
    )  # fmt: skip


def render(
    values: Mapping[str, Any] | None = None,
    *,
    values_files: Iterable[Path] = (),
    release: str = DEFAULT_RELEASE,
    namespace: str = DEFAULT_NAMESPACE,
    extra_args: Sequence[str] = (),
) -> list[Obj]:
    """The objects `helm template` renders (empty documents dropped)."""
    text = template(
        values, values_files=values_files, release=release, namespace=namespace, extra_args=extra_args
    ).stdout
    return [doc for doc in yaml.safe_load_all(text) if doc]


def find(objects: Iterable[Obj], kind: str, name: str | None = None, namespace: str | None = None) -> list[Obj]:
    """The objects of `kind` (and `name`, `namespace` when given)."""
    return [
        obj
        for obj in objects
        if obj["kind"] == kind
        and (name is None or obj["metadata"]["name"] == name)
        and (namespace is None or obj["metadata"].get("namespace") == namespace)
    ]


def operator_rules(
    *, watch_namespaces: Sequence[str] = (), replicas: int = 1, values: Mapping[str, Any] | None = None
) -> list[Obj]:
    """The operator's RBAC rules as the chart renders them: those of its ClusterRole
    (cluster-wide), or of its Role in the first watched namespace (they are the same in each).
    `replicas > 1` adds the kopf peering rule."""
    merged: dict[str, Any] = {"watchNamespaces": list(watch_namespaces), "replicas": replicas, **(values or {})}
    objects = render(merged, extra_args=["--show-only", "templates/rbac.yaml"])
    kind = "Role" if watch_namespaces else "ClusterRole"
    roles = find(objects, kind)
    assert roles, f"the chart rendered no {kind}"
    rules: list[Obj] = roles[0]["rules"]
    return rules


def operator_rbac_objects(namespace: str, *, watch_namespaces: Sequence[str] = (), replicas: int = 1) -> list[Obj]:
    """The chart's ServiceAccount `SERVICE_ACCOUNT` in `namespace` and its (Cluster)Role(s)
    and binding(s), ready for `kubectl apply`: what the operator runs under when installed.

    The ClusterRole and ClusterRoleBinding are named `llmtrain-operator-<namespace>`, so
    tests in different namespaces do not overwrite each other's. Pass `watch_namespaces` for
    a Role and RoleBinding in each of them instead, `replicas > 1` for the peering rule."""
    return render(
        _test_values(namespace, watch_namespaces, replicas),
        namespace=namespace,
        extra_args=["--show-only", "templates/serviceaccount.yaml", "--show-only", "templates/rbac.yaml"],
    )


def operator_peering_objects(namespace: str, *, watch_namespaces: Sequence[str] = ()) -> list[Obj]:
    """What the chart adds with `replicas: 2` for the operator of `operator_rbac_objects`: the
    kopf peering CRD and the peering object (a ClusterKopfPeering, or a KopfPeering in each
    watched namespace), named `llmtrain-operator-<namespace>` like the roles. Apply the CRD
    first: the object needs it served."""
    return render(
        _test_values(namespace, watch_namespaces, 2),
        namespace=namespace,
        extra_args=["--show-only", "templates/peering.yaml", "--show-only", "templates/peering-object.yaml"],
    )


def _test_values(namespace: str, watch_namespaces: Sequence[str], replicas: int) -> dict[str, Any]:
    return {
        "watchNamespaces": list(watch_namespaces), "replicas": replicas,
        "fullnameOverride": f"{DEFAULT_RELEASE}-{namespace}"[:63].rstrip("-"),
        "serviceAccount": {"name": SERVICE_ACCOUNT},
    }  # fmt: skip


def service_account_name() -> str:
    """The name of the ServiceAccount `operator_rbac_objects` creates (`SERVICE_ACCOUNT`)."""
    return SERVICE_ACCOUNT


def contract_triples(peering: str | None = None) -> set[tuple[str, str, str]]:
    """OPERATOR_CONTRACT as (apiGroup, resource, verb) triples, plus the verbs on the kopf
    peering resource `peering` ("clusterkopfpeerings" or "kopfpeerings") when given."""
    triples = {(group, resource, verb) for (group, resource), verbs in OPERATOR_CONTRACT.items() for verb in verbs}
    if peering is not None:
        triples |= {("kopf.dev", peering, verb) for verb in PEERING_VERBS}
    return triples


def rule_set(rules: Iterable[Obj]) -> set[tuple[str, str, str]]:
    """Rules flattened to (apiGroup, resource, verb) triples, for comparisons."""
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }
