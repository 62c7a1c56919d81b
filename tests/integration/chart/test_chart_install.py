"""The chart installed with the real helm into the real API server (tests/testenv), and the
ServiceAccount's permissions proved with `kubectl auth can-i`: everything the operator needs,
nothing else (no Secrets, no other namespaces when namespaced). Then upgrade, uninstall
(no RBAC left behind), and `kubectl apply -f manifests/install.yaml`.

The operator pods get a node selector no node has: they are created (so the namespace's
`restricted` Pod Security admission checks them) but never run.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from support.chart_rbac import (
    CHART_DIR,
    DEFAULT_NAMESPACE,
    DEFAULT_RELEASE,
    INSTALL_MANIFEST,
    contract_triples,
    helm,
    render,
    rule_set,
    values_args,
    values_input,
)
from testenv.controlplane import ControlPlane
from testenv.kubeapi import KubeAPI
from testenv.testing import eventually

UNSCHEDULABLE = {"nodeSelector": {"llmtrain.dev/chart-test": "no-such-node"}}
RBAC_KINDS = "clusterroles,clusterrolebindings,roles,rolebindings,serviceaccounts"

# What the operator does most, asked one by one with `kubectl auth can-i` (the exact sets
# are compared through `kubectl auth can-i --list`).
NEEDED: list[tuple[str, str, str]] = [
    ("watch", "llmtrainingjobs.llmtrain.dev", ""),
    ("patch", "llmtrainingjobs.llmtrain.dev", "status"),
    ("create", "pods", ""),
    ("create", "events", ""),
]
# Requests the operator never makes: each must be refused, in any mode.
FORBIDDEN: list[tuple[str, str, str]] = [
    ("get", "secrets", ""),
    ("list", "secrets", ""),
    ("create", "pods", "exec"),
    ("update", "pods", ""),
    ("create", "llmtrainingjobs.llmtrain.dev", ""),
    # It writes only the status of a job, and never reads back what it created.
    ("patch", "llmtrainingjobs.llmtrain.dev", ""),
    ("get", "pods", ""),
    ("create", "rolebindings.rbac.authorization.k8s.io", ""),
]
FORBIDDEN_CLUSTER: list[tuple[str, str, str]] = [
    ("list", "secrets", ""),
    ("list", "nodes", ""),
    ("list", "customresourcedefinitions.apiextensions.k8s.io", ""),
]


@dataclass
class Release:
    """A helm release of the chart in the test control plane."""

    cp: ControlPlane
    name: str
    namespace: str
    fullname_override: str = ""

    @property
    def service_account(self) -> str:
        """`system:serviceaccount:<namespace>:<name>` of the operator."""
        return f"system:serviceaccount:{self.namespace}:{self.fullname}"

    @property
    def fullname(self) -> str:
        """The chart's full name of the release's objects (and of its ServiceAccount)."""
        return self.fullname_override or f"{self.name}-llmtrain-operator"

    def helm(
        self, command: str, values: dict[str, Any] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """`helm install|upgrade` of the chart with `values` (plus the unschedulable node selector)."""
        merged = {**UNSCHEDULABLE, **(values or {})}
        return helm(
            command, self.name, str(CHART_DIR), "--namespace", self.namespace, *values_args(merged),
            input=values_input(merged), kubeconfig=self.cp.kubeconfig_path, check=check,
        )  # fmt: skip

    def uninstall(self) -> None:
        helm("uninstall", self.name, "--namespace", self.namespace, "--wait", kubeconfig=self.cp.kubeconfig_path)

    def can_i(self, verb: str, resource: str, subresource: str = "", namespace: str | None = None) -> bool:
        """`kubectl auth can-i` as the operator's ServiceAccount (all namespaces when None)."""
        args = ["auth", "can-i", verb, resource, f"--as={self.service_account}"]
        args += [f"--subresource={subresource}"] if subresource else []
        args += ["--namespace", namespace] if namespace else ["--all-namespaces"]
        result = self.cp.kubectl(*args, check=False)
        # kubectl asks about the wrong resource when it cannot resolve the name: not an answer.
        assert "the server doesn't have a resource type" not in result.stderr, result.stderr
        answer = result.stdout.strip()
        assert answer in {"yes", "no"}, f"kubectl {' '.join(args)}: {result.stdout}{result.stderr}"
        return answer == "yes"

    def granted(self, namespace: str) -> set[tuple[str, str, str]]:
        """What the operator's ServiceAccount may do in `namespace` beyond what every
        ServiceAccount may (`kubectl auth can-i --list`, minus that of an unbound account), as
        (apiGroup, resource, verb) triples."""
        return listed_rules(self.cp, self.service_account, namespace) - listed_rules(
            self.cp, f"system:serviceaccount:{self.namespace}:nobody-{secrets.token_hex(2)}", namespace
        )

    def objects(self, kinds: str, *scope: str) -> list[str]:
        """`kind/name` of the objects of this release (by its instance label)."""
        out = self.cp.kubectl(
            "get", kinds, *scope, "-l", f"app.kubernetes.io/instance={self.name}", "-o", "name"
        ).stdout
        return out.split()


ROW = re.compile(r"^(\S*)\s+\[([^\]]*)\]\s+\[([^\]]*)\]\s+\[([^\]]*)\]\s*$")


def listed_rules(cp: ControlPlane, user: str, namespace: str) -> set[tuple[str, str, str]]:
    """`kubectl auth can-i --list --as=<user>` in `namespace`, as (apiGroup, resource, verb)
    triples (resource rules only; `resource/subresource` kept together)."""
    out = cp.kubectl("auth", "can-i", "--list", f"--as={user}", "--namespace", namespace).stdout
    triples: set[tuple[str, str, str]] = set()
    for line in out.splitlines()[1:]:
        match = ROW.match(line)
        assert match, f"unexpected line of kubectl auth can-i --list: {line!r}"
        resource, _urls, names, verbs = match.groups()
        if not resource:
            continue  # a non-resource URL (discovery, /healthz, ...)
        assert not names, f"{user} is limited to names {names} of {resource}"
        name, _, subresource = resource.partition("/")
        plural, _, group = name.partition(".")
        full = f"{plural}/{subresource}" if subresource else plural
        triples |= {(group, full, verb) for verb in verbs.split()}
    return triples


def can_i_all(release: Release, requests: Sequence[tuple[str, str, str]], namespace: str | None) -> dict[str, bool]:
    """The answers of `can_i` for (verb, resource, subresource) requests, asked in parallel."""

    def ask(request: tuple[str, str, str]) -> tuple[str, bool]:
        verb, resource, subresource = request
        key = f"{verb} {resource}{'/' + subresource if subresource else ''} in {namespace or 'all namespaces'}"
        return key, release.can_i(verb, resource, subresource, namespace)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(ask, requests))


def assert_allowed(release: Release, requests: Sequence[tuple[str, str, str]], namespace: str | None) -> None:
    denied = [key for key, allowed in can_i_all(release, requests, namespace).items() if not allowed]
    assert not denied, f"the operator's ServiceAccount is missing: {denied}"


def assert_denied(release: Release, requests: Sequence[tuple[str, str, str]], namespace: str | None) -> None:
    allowed = [key for key, ok in can_i_all(release, requests, namespace).items() if ok]
    assert not allowed, f"the operator's ServiceAccount may: {allowed}"


@pytest.fixture
def release_factory(control_plane: ControlPlane, namespace: str) -> Iterator[Callable[[], Release]]:
    """Releases with fresh names in the test's namespace, uninstalled at the end."""
    made: list[Release] = []

    def make() -> Release:
        release = Release(control_plane, f"lt-{secrets.token_hex(3)}", namespace)
        made.append(release)
        return release

    yield make
    for release in made:
        helm("uninstall", release.name, "--namespace", namespace, kubeconfig=control_plane.kubeconfig_path, check=False)


@pytest.fixture
def restricted_namespace(control_plane: ControlPlane, namespace: str) -> str:
    """The test namespace, enforcing the `restricted` Pod Security Standard."""
    control_plane.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    return namespace


def kget(cp: ControlPlane, *args: str) -> dict[str, Any]:
    """`kubectl get <args> -o json` as admin, parsed."""
    parsed: dict[str, Any] = json.loads(cp.kubectl("get", *args, "-o", "json").stdout)
    return parsed


def pods_of(release: Release) -> list[dict[str, Any]]:
    selector = f"app.kubernetes.io/instance={release.name},app.kubernetes.io/component=operator"
    out = release.cp.kubectl("get", "pods", "-n", release.namespace, "-l", selector, "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def test_cluster_wide_install_grants_the_operator_exactly_what_it_needs(
    control_plane: ControlPlane, restricted_namespace: str, release_factory: Callable[[], Release]
) -> None:
    release = release_factory()
    installed = release.helm("install")
    notes = installed.stdout.split("NOTES:", 1)[1]
    assert "kubectl apply --namespace default -f manifests/examples/tiny-cpu.yaml" in notes
    assert "llmtrain submit manifests/examples/tiny-cpu.yaml" in notes

    elsewhere = control_plane.create_namespace("elsewhere")
    assert release.granted(elsewhere) == contract_triples()
    assert release.granted(restricted_namespace) == contract_triples()
    assert_allowed(release, NEEDED, elsewhere)
    assert_allowed(release, [("list", "pods", ""), ("watch", "llmtrainingjobs.llmtrain.dev", "")], None)
    assert_denied(release, FORBIDDEN, elsewhere)
    assert_denied(release, FORBIDDEN_CLUSTER, None)

    # The pod passes the `restricted` Pod Security Standard (the ReplicaSet could create it).
    (pod,) = eventually(lambda: pods_of(release), timeout=60)
    assert pod["spec"]["serviceAccountName"] == release.fullname

    release.uninstall()
    assert not release.objects(RBAC_KINDS, "--all-namespaces")
    assert release.granted(elsewhere) == set()
    control_plane.kubectl("delete", "namespace", elsewhere, "--wait=false")


def test_namespaced_ha_install_is_confined_to_the_watched_namespaces(
    control_plane: ControlPlane, namespace: str, release_factory: Callable[[], Release]
) -> None:
    team_a, team_b, other = (control_plane.create_namespace(p) for p in ("team-a", "team-b", "other"))
    release = release_factory()
    release.helm("install", {"watchNamespaces": [team_a, team_b], "replicas": 2})

    for watched in (team_a, team_b):
        assert release.granted(watched) == contract_triples("kopfpeerings")
        peering = kget(control_plane, "kopfpeerings.kopf.dev", release.fullname, "-n", watched)
        assert peering["metadata"]["name"] == release.fullname
    assert_allowed(release, [*NEEDED, ("patch", "kopfpeerings.kopf.dev", "")], team_a)
    assert_denied(release, FORBIDDEN, team_b)
    # Nothing in another namespace, nor in its own, nor cluster-wide.
    assert release.granted(other) == set()
    assert release.granted(namespace) == set()
    assert_denied(release, [*NEEDED[:2], ("get", "secrets", "")], other)
    assert_denied(
        release, [*FORBIDDEN_CLUSTER, ("list", "pods", ""), ("watch", "llmtrainingjobs.llmtrain.dev", "")], None
    )
    assert not release.objects("clusterroles,clusterrolebindings")
    assert release.objects("roles", "-n", team_a) == [f"role.rbac.authorization.k8s.io/{release.fullname}"]

    release.uninstall()
    assert not release.objects(RBAC_KINDS, "--all-namespaces")
    assert release.granted(team_a) == set()
    eventually(lambda: control_plane.kubectl("get", "crd", "kopfpeerings.kopf.dev", check=False).returncode != 0)
    for created in (team_a, team_b, other):
        control_plane.kubectl("delete", "namespace", created, "--wait=false")


def test_ha_install_peers_with_priority_and_upgrades_keep_the_peering_state(
    control_plane: ControlPlane, namespace: str, release_factory: Callable[[], Release]
) -> None:
    release = release_factory()
    release.helm("install", {"replicas": 2, "podDisruptionBudget": {"enabled": True}})
    assert release.granted("default") == contract_triples("clusterkopfpeerings")

    # The operator's ServiceAccount itself records a peer, as kopf does: a merge patch alone
    # (kubectl patch would read the object first, which the peering rule does not allow).
    sa_kubeconfig = control_plane.service_account_kubeconfig(namespace, release.fullname, create=False)
    peer = {"status": {"peer-a": {"priority": 7, "lifetime": 60, "lastseen": "2026-01-01T00:00:00"}}}
    KubeAPI(sa_kubeconfig).merge_patch(f"/apis/kopf.dev/v1/clusterkopfpeerings/{release.fullname}", peer)
    before = kget(control_plane, "clusterkopfpeering", release.fullname)

    pods = eventually(lambda: two if len(two := pods_of(release)) == 2 else None, timeout=60)
    assert {pod["spec"]["priority"] for pod in pods} == {1000000}
    assert {pod["spec"]["priorityClassName"] for pod in pods} == {release.fullname}
    pdb = kget(control_plane, "pdb", release.fullname, "-n", namespace)
    assert pdb["spec"]["maxUnavailable"] == 1

    release.helm("upgrade", {"replicas": 3, "podDisruptionBudget": {"enabled": True}})
    after = kget(control_plane, "clusterkopfpeering", release.fullname)
    assert after["metadata"]["uid"] == before["metadata"]["uid"], "the upgrade recreated the peering object"
    assert after["status"] == before["status"], "the upgrade lost the peers"

    release.uninstall()
    assert not release.objects(RBAC_KINDS, "--all-namespaces")
    assert not release.objects("priorityclasses,poddisruptionbudgets", "--all-namespaces")
    eventually(lambda: control_plane.kubectl("get", "crd", "clusterkopfpeerings.kopf.dev", check=False).returncode != 0)


def test_upgrade_to_namespaced_moves_the_rbac_and_a_typo_is_refused(
    control_plane: ControlPlane, namespace: str, release_factory: Callable[[], Release]
) -> None:
    team = control_plane.create_namespace("team")
    release = release_factory()
    release.helm("install")
    assert release.granted(team) == contract_triples()
    assert release.objects("clusterroles")

    release.helm("upgrade", {"watchNamespaces": [team], "operator": {"logLevel": "DEBUG"}})
    assert not release.objects("clusterroles,clusterrolebindings")
    assert release.objects("roles,rolebindings", "-n", team)
    assert release.granted(team) == contract_triples()
    assert release.granted(namespace) == set()
    assert not release.can_i("list", "pods")
    deployment = kget(control_plane, "deployment", release.fullname, "-n", namespace)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {var["name"]: var.get("value") for var in container["env"]}
    assert (env["LLMTRAIN_NAMESPACES"], env["LLMTRAIN_LOG_LEVEL"]) == (team, "DEBUG")

    refused = release.helm("upgrade", {"watchNamespace": [team]}, check=False)
    assert refused.returncode != 0
    assert "additional properties 'watchNamespace' not allowed" in refused.stderr
    history = json.loads(
        helm("history", release.name, "-n", namespace, "-o", "json", kubeconfig=control_plane.kubeconfig_path).stdout
    )
    assert [(entry["revision"], entry["status"]) for entry in history] == [(1, "superseded"), (2, "deployed")]

    release.uninstall()
    assert not release.objects(RBAC_KINDS, "--all-namespaces")
    control_plane.kubectl("delete", "namespace", team, "--wait=false")


def test_kubectl_apply_of_install_manifest_creates_the_chart_objects(control_plane: ControlPlane) -> None:
    documents = [doc for doc in yaml.safe_load_all(INSTALL_MANIFEST.read_text()) if doc]
    chart = render(extra_args=["--include-crds", "--skip-tests"])
    assert sorted(map(identity, documents)) == sorted([("Namespace", "", DEFAULT_NAMESPACE), *map(identity, chart)])

    # The node agent would run the Deployment's pod as a second operator; keep it at zero.
    applied = [
        {**doc, "spec": {**doc["spec"], "replicas": 0}} if doc["kind"] == "Deployment" else doc for doc in documents
    ]
    control_plane.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": applied}))
    try:
        live = json.loads(control_plane.kubectl("get", "-f", str(INSTALL_MANIFEST), "-o", "json").stdout)["items"]
        assert sorted(map(identity, live)) == sorted(map(identity, documents))
        for obj, created in zip(documents, live, strict=True):
            assert obj["metadata"].get("labels", {}).items() <= created["metadata"].get("labels", {}).items()
        (role,) = [obj for obj in live if obj["kind"] == "ClusterRole"]
        assert rule_set(role["rules"]) == contract_triples()
        operator = Release(control_plane, DEFAULT_RELEASE, DEFAULT_NAMESPACE, fullname_override=DEFAULT_RELEASE)
        assert operator.granted("default") == contract_triples()
        assert_denied(operator, FORBIDDEN, "default")
    finally:
        # Everything but the CRD, which other tests of the session use.
        without_crd = [doc for doc in documents if doc["kind"] != "CustomResourceDefinition"]
        control_plane.kubectl(
            "delete", "--wait=false", "--ignore-not-found", "-f", "-",
            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": without_crd}),
        )  # fmt: skip


def identity(obj: dict[str, Any]) -> tuple[str, str, str]:
    """(kind, namespace, name) of an object."""
    return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
