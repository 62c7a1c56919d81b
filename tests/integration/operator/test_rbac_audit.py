"""Two-sided RBAC: what the operator asks the API server for, read from the API server's audit
log (`SERVICE_ACCOUNT_AUDIT_POLICY` of the session's control plane), is exactly what the chart
grants it: no request is refused, and no grant goes unused.

Each test drives every kind of work itself, so it passes alone and in any order: a restart
(kopf's listing and watches, the resync loop), a job created, held, suspended and resumed
(pods, the Service, the trainer's ConfigMap created and then patched, status, events), gang
scheduling with each PodGroup API, and a job that fails and is deleted after its TTL. The
pods never run (their schedulers do not exist), so it costs no training processes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.chart_rbac import (
    operator_peering_objects,
    operator_rbac_objects,
    operator_rules,
    rule_set,
    service_account_name,
)
from support.crd_install import install_crd
from support.job_helpers import (
    command_job,
    patch_spec,
    phase_is,
    pods,
    shell,
    submit,
    tiny_trainer_job,
    wait_for_status,
)
from support.operator_fixture import OPERATOR_NAMESPACE, RunningOperator
from testenv.controlplane import ControlPlane
from testenv.netutil import wait_until

Triple = tuple[str, str, str]
"""(apiGroup, resource[/subresource], verb), as RBAC rules and the audit log name a request."""

# Grants no request of the operator's shows, each with the reason it is still needed (the
# chart's comment on the rule says the same). Nothing else may be granted and unused.
NOT_REQUESTS: dict[Triple, str] = {
    ("llmtrain.dev", "llmtrainingjobs/finalizers", "update"): (
        "the OwnerReferencesPermissionEnforcement admission plugin checks it on every child the operator "
        "creates (their owner references block the job's deletion); the test control plane enables the "
        "plugin and test_blocking_owner_references_need_update_on_the_job_finalizers proves the need"
    ),
}
SLEEP = shell("sleep 120")
# Gang scheduling with each provider; the stand-in CRDs below make the PodGroup APIs exist.
POD_GROUP_APIS = {"coscheduling": ("scheduling.x-k8s.io", "v1alpha1"), "volcano": ("scheduling.volcano.sh", "v1beta1")}


def operator_user(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


RBAC_DECISION = "authorization.k8s.io/decision"
"""The audit annotation with the authorizer's verdict: "allow" or "forbid"."""


def requests_of(control_plane: ControlPlane, user: str, since: int) -> dict[Triple, set[str]]:
    """The (apiGroup, resource, verb) of every resource request `user` made after the audit
    mark `since`, with the authorizer's decisions on it ("forbid": refused by RBAC; a 403
    for another cause, such as a namespace being deleted, is "allow"). Discovery and other
    non-resource requests are left out (every authenticated user may make them)."""
    used: dict[Triple, set[str]] = {}
    for event in control_plane.audit_events(since):
        ref = event.get("objectRef")
        if event["user"]["username"] != user or ref is None:
            continue
        resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        decision = str((event.get("annotations") or {}).get(RBAC_DECISION, ""))
        used.setdefault((ref.get("apiGroup", ""), resource, event["verb"]), set()).add(decision)
    return used


def describe(triples: set[Triple]) -> str:
    return ", ".join(f"{verb} {resource}{'.' + group if group else ''}" for group, resource, verb in sorted(triples))


def assert_used_exactly(used: dict[Triple, set[str]], granted: set[Triple], exceptions: set[Triple]) -> None:
    refused = {triple for triple, decisions in used.items() if "forbid" in decisions}
    assert not refused, f"the API server refused the operator: {describe(refused)}"
    beyond = set(used) - granted
    assert not beyond, f"the operator used what the chart does not grant: {describe(beyond)}"
    unused = granted - set(used) - exceptions
    assert not unused, f"the chart grants what the operator never used: {describe(unused)}"
    assert exceptions <= granted, f"exceptions the chart no longer grants: {describe(exceptions - granted)}"


def pod_group_crd(group: str, version: str) -> dict[str, Any]:
    """A minimal stand-in for a gang scheduler's PodGroup CRD (its schema kept open)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"podgroups.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": "PodGroup", "plural": "podgroups", "singular": "podgroup"},
            "versions": [{
                "name": version, "served": True, "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }],
        },
    }  # fmt: skip


def install_crds(control_plane: ControlPlane, crds: list[dict[str, Any]]) -> list[str]:
    """Create the CRDs that do not exist yet and wait until they are served; returns the names
    of those it created (for `remove_crds`), so that the cluster is left as it was found."""
    created = []
    for crd in crds:
        name = crd["metadata"]["name"]
        if control_plane.kubectl("get", "crd", name, check=False).returncode != 0:
            control_plane.kubectl("create", "-f", "-", input=json.dumps(crd))
            created.append(name)
    for name in created:
        control_plane.kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")
    return created


def remove_crds(control_plane: ControlPlane, names: list[str]) -> None:
    for name in names:
        control_plane.kubectl("delete", "crd", name, "--ignore-not-found", "--wait=true", "--timeout=60s")


@pytest.fixture
def pod_group_apis(control_plane: ControlPlane) -> Iterator[None]:
    """Both PodGroup APIs, for this test only (another test needs them missing at first)."""
    created = install_crds(control_plane, [pod_group_crd(*api) for api in POD_GROUP_APIS.values()])
    yield
    remove_crds(control_plane, created)


def drive_every_operation(control_plane: ControlPlane, namespace: str, tmp_path: Path) -> None:
    """Jobs that make the operator do each thing it does; their pods are never scheduled."""
    # A trainer job with a gang (coscheduling): Service, ConfigMap, PodGroup, pods, status, events.
    held = tiny_trainer_job("held", tmp_path / "data", tmp_path / "ckpt", steps=10)
    held["spec"]["scheduling"] = {"gang": {"enabled": True, "provider": "coscheduling"}}
    submit(control_plane, namespace, held)
    wait_until(lambda: len(pods(control_plane, namespace, "held")) == 2, 60, "the pods of held")
    # Suspended: its pods are deleted. Resumed: a new attempt patches the existing ConfigMap.
    patch_spec(control_plane, namespace, "held", {"runPolicy": {"suspend": True}})
    wait_for_status(control_plane, namespace, "held", phase_is("Suspended"), "held to be suspended")
    wait_until(lambda: not pods(control_plane, namespace, "held"), 60, "the pods of held to go")
    patch_spec(control_plane, namespace, "held", {"runPolicy": {"suspend": False}})
    wait_until(
        lambda: sorted(p["metadata"]["labels"]["llmtrain.dev/attempt"] for p in pods(control_plane, namespace, "held"))
        == ["2", "2"],
        60, "the pods of the second attempt of held",
    )  # fmt: skip
    config = control_plane.kubectl_json("-n", namespace, "get", "configmap", "held-config")
    assert config["metadata"]["ownerReferences"][0]["blockOwnerDeletion"] is True  # type: ignore[index]

    # A volcano gang that fails (its deadline passes) and is deleted after its TTL.
    late = command_job("late", SLEEP, runPolicy={"activeDeadlineSeconds": 3, "ttlSecondsAfterFinished": 1})
    late["spec"]["scheduling"] = {"gang": {"enabled": True, "provider": "volcano"}}
    submit(control_plane, namespace, late)
    wait_until(
        lambda: control_plane.kubectl("-n", namespace, "get", "ltj", "late", check=False).returncode != 0,
        90, "late to fail and be deleted after its TTL",
    )  # fmt: skip
    control_plane.kubectl("-n", namespace, "get", "podgroups.scheduling.x-k8s.io", "held")


def test_the_operator_uses_exactly_what_the_chart_grants(
    running_operator: RunningOperator,
    control_plane: ControlPlane,
    namespace: str,
    pod_group_apis: None,
    tmp_path: Path,
) -> None:
    """Cluster-wide, one replica (the chart's defaults, as the session's operator runs): every
    request is granted, and every grant but those of NOT_REQUESTS is used."""
    mark = control_plane.audit_mark()
    # A fresh process inside the window: kopf's listing and watches are part of what it uses.
    running_operator.restart()
    drive_every_operation(control_plane, namespace, tmp_path)

    used = requests_of(control_plane, operator_user(OPERATOR_NAMESPACE, service_account_name()), mark)
    assert_used_exactly(used, rule_set(operator_rules()), set(NOT_REQUESTS))


@pytest.mark.parametrize("watch", [False, True], ids=["cluster-wide", "namespaced"])
def test_with_replicas_the_operator_peers_using_exactly_the_peering_grant(
    running_operator: RunningOperator, control_plane: ControlPlane, namespace: str, watch: bool, tmp_path: Path
) -> None:
    """`replicas > 1`: the chart's peering CRD, object and rule, and the operator running
    with LLMTRAIN_PEERING as that release's ServiceAccount (in the test's namespace). It
    records itself as a peer, runs a job (it is the only peer, so the active one), and uses
    every verb of the peering rule and nothing that is not granted. The job verbs are the
    same rules as without peering (`test_the_operator_uses_exactly_what_the_chart_grants`)."""
    watched = [namespace] if watch else []
    rbac = operator_rbac_objects(namespace, watch_namespaces=watched, replicas=2)
    peering = operator_peering_objects(namespace, watch_namespaces=watched)
    (crd,) = [obj for obj in peering if obj["kind"] == "CustomResourceDefinition"]
    (peering_object,) = [obj for obj in peering if obj["kind"] != "CustomResourceDefinition"]
    cluster_scoped = [f"{obj['kind']}/{obj['metadata']['name']}" for obj in rbac if obj["kind"].startswith("Cluster")]
    created = install_crds(control_plane, [crd])
    try:
        control_plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*rbac, peering_object]))
        kubeconfig = control_plane.service_account_kubeconfig(namespace, service_account_name(), create=False)
        name = peering_object["metadata"]["name"]
        where = ["-n", namespace] if watch else []
        env = {"LLMTRAIN_PEERING": name, "LLMTRAIN_NAMESPACES": ",".join(watched), "POD_ID": "peer-0"}
        mark = control_plane.audit_mark()
        running_operator.stop()  # one operator at a time runs the test's job
        try:
            peer = RunningOperator(kubeconfig, tmp_path / "peer.log", env=env).start()
            try:
                wait_until(
                    lambda: bool(control_plane.kubectl_json("get", peering_object["kind"], name, *where).get("status")),
                    60, "the operator to record itself in the peering object",
                )  # fmt: skip
                submit(control_plane, namespace, command_job("peered", SLEEP, nodes=1, resources={"gpus": 16}))
                wait_until(lambda: bool(pods(control_plane, namespace, "peered")), 60, "the peer to create the pod")
            finally:
                peer.stop()
        finally:
            running_operator.start()

        used = requests_of(control_plane, operator_user(namespace, service_account_name()), mark)
        granted = rule_set(operator_rules(watch_namespaces=watched, replicas=2))
        peering_grant = {triple for triple in granted if triple[0] == "kopf.dev"}
        assert peering_grant, "the chart has a peering rule with replicas > 1"
        assert_used_exactly(used, granted, exceptions=granted - peering_grant)
    finally:
        for obj in cluster_scoped:
            control_plane.kubectl("delete", obj, "--ignore-not-found")
        remove_crds(control_plane, created)


def test_blocking_owner_references_need_update_on_the_job_finalizers(
    control_plane: ControlPlane, namespace: str
) -> None:
    """The one grant the audit log cannot show: the children the operator creates carry an
    owner reference to their job with blockOwnerDeletion, and the API server's
    OwnerReferencesPermissionEnforcement admission plugin (enabled in the test control plane,
    as on hardened clusters) allows that only to whoever may update the job's finalizers."""
    install_crd(control_plane.kubectl)
    job = command_job("owner", SLEEP, runPolicy={"suspend": True})
    submit(control_plane, namespace, job)
    uid = control_plane.kubectl_json("-n", namespace, "get", "ltj", "owner")["metadata"]["uid"]  # type: ignore[index]
    rules = operator_rules(watch_namespaces=[namespace])
    finalizers = ("llmtrain.dev", "llmtrainingjobs/finalizers", "update")
    assert finalizers in rule_set(rules)
    without = [rule for rule in rules if finalizers not in rule_set([rule])]

    def child(name: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "ownerReferences": [{
                "apiVersion": "llmtrain.dev/v1alpha1", "kind": "LLMTrainingJob", "name": "owner", "uid": uid,
                "controller": True, "blockOwnerDeletion": True,
            }]},
        }  # fmt: skip

    def create_as(account: str, rules: list[dict[str, Any]]) -> Any:
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": account, "namespace": namespace}, "rules": rules}  # fmt: skip
        control_plane.kubectl("apply", "-f", "-", input=json.dumps(role))
        control_plane.kubectl("-n", namespace, "create", "rolebinding", account, f"--role={account}",
                              f"--serviceaccount={namespace}:{account}")  # fmt: skip
        kubeconfig = control_plane.service_account_kubeconfig(namespace, account)
        # The authorizer sees new bindings within moments: wait until the account may create.
        wait_until(
            lambda: control_plane.kubectl("auth", "can-i", "create", "configmaps", "-n", namespace,
                                          kubeconfig=kubeconfig, check=False).stdout.strip() == "yes",
            30, f"the role of {account}",
        )  # fmt: skip
        manifest = json.dumps(child(account))
        return control_plane.kubectl("create", "-f", "-", input=manifest, kubeconfig=kubeconfig, check=False)

    refused = create_as("without-finalizers", without)
    assert refused.returncode != 0
    assert "cannot set blockOwnerDeletion" in refused.stderr, refused.stderr
    allowed = create_as("with-finalizers", rules)
    assert allowed.returncode == 0, allowed.stderr
