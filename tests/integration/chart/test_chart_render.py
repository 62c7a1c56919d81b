"""The Helm chart rendered by the real helm: lint, every ci/ scenario, least-privilege RBAC,
secure Deployment, the values schema, documented values, and manifests/install.yaml."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.chart_rbac import (
    CHART_DIR,
    DEFAULT_NAMESPACE,
    DEFAULT_RELEASE,
    INSTALL_MANIFEST,
    SERVICE_ACCOUNT,
    Obj,
    contract_triples,
    find,
    helm,
    helm_binary,
    operator_rbac_objects,
    operator_rules,
    render,
    rule_set,
    template,
)
from testenv.paths import REPO_ROOT

CI_VALUES = sorted((CHART_DIR / "ci").glob("*.yaml"))
VERSION = (REPO_ROOT / "VERSION").read_text().strip()


def deployment(objects: list[Obj]) -> Obj:
    (found,) = find(objects, "Deployment")
    return found


def container_env(objects: list[Obj]) -> dict[str, Any]:
    (container,) = deployment(objects)["spec"]["template"]["spec"]["containers"]
    return {var["name"]: var.get("value", var.get("valueFrom")) for var in container["env"]}


def kinds(objects: list[Obj]) -> list[str]:
    return sorted(obj["kind"] for obj in objects)


# --- lint and scenarios -------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, *CI_VALUES], ids=lambda p: p.name if p else "defaults")
def test_helm_lint_strict_is_clean(values: Path | None) -> None:
    result = helm("lint", "--strict", str(CHART_DIR), *(["-f", str(values)] if values else []), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_every_ci_scenario_renders_valid_named_and_labelled_objects(values: Path) -> None:
    objects = render(values_files=[values], extra_args=["--include-crds"])
    assert find(objects, "Deployment") and find(objects, "ServiceAccount") and find(objects, "Service")
    for obj in objects:
        name = obj["metadata"]["name"]
        if obj["kind"] == "CustomResourceDefinition" and obj["spec"]["group"] == "llmtrain.dev":
            continue  # generated from the SDK models, not templated
        assert len(name) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name), name
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "llmtrain-operator"
        assert labels["app.kubernetes.io/instance"] == DEFAULT_RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["helm.sh/chart"] == f"llmtrain-operator-{VERSION}"


def test_ci_scenarios_cover_cluster_wide_namespaced_ha_and_monitoring() -> None:
    assert {p.stem for p in CI_VALUES} >= {
        "cluster-wide-values", "namespaced-values", "ha-values", "monitoring-values",
    }  # fmt: skip


def test_chart_and_app_version_follow_the_version_file() -> None:
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert chart["version"] == VERSION
    assert chart["appVersion"] == VERSION


def test_chart_crd_is_the_generated_one() -> None:
    assert (CHART_DIR / "crds" / "llmtrainingjobs.yaml").read_text() == (
        REPO_ROOT / "manifests" / "crd.yaml"
    ).read_text()


# --- RBAC ----------------------------------------------------------------------------------


def test_default_install_is_cluster_wide_with_exactly_the_operator_rules() -> None:
    objects = render()
    (role,) = find(objects, "ClusterRole")
    (binding,) = find(objects, "ClusterRoleBinding")
    assert not find(objects, "Role") and not find(objects, "RoleBinding")
    assert rule_set(role["rules"]) == contract_triples()
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role["metadata"]["name"],
    }  # fmt: skip
    (sa,) = find(objects, "ServiceAccount")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": DEFAULT_NAMESPACE}
    ]
    assert deployment(objects)["spec"]["template"]["spec"]["serviceAccountName"] == sa["metadata"]["name"]


@pytest.mark.parametrize("values", [None, *CI_VALUES], ids=lambda p: p.name if p else "defaults")
def test_no_rule_grants_secrets_wildcards_or_write_access_beyond_the_contract(values: Path | None) -> None:
    objects = render(values_files=[values] if values else [])
    allowed = contract_triples("clusterkopfpeerings") | contract_triples("kopfpeerings")
    roles = find(objects, "ClusterRole") + find(objects, "Role")
    assert roles
    for role in roles:
        for rule in role["rules"]:
            assert "*" not in rule["apiGroups"] + rule["resources"] + rule["verbs"], rule
            assert "secrets" not in rule["resources"], rule
            assert "resourceNames" not in rule and "nonResourceURLs" not in rule, rule
        assert rule_set(role["rules"]) <= allowed


def test_namespaced_install_has_a_role_per_namespace_and_nothing_cluster_wide() -> None:
    objects = render({"watchNamespaces": ["team-a", "team-b"]})
    assert not find(objects, "ClusterRole") and not find(objects, "ClusterRoleBinding")
    for namespace in ("team-a", "team-b"):
        (role,) = find(objects, "Role", namespace=namespace)
        (binding,) = find(objects, "RoleBinding", namespace=namespace)
        assert rule_set(role["rules"]) == contract_triples()
        assert binding["roleRef"]["kind"] == "Role" and binding["roleRef"]["name"] == role["metadata"]["name"]
        assert binding["subjects"][0]["namespace"] == DEFAULT_NAMESPACE
    assert len(find(objects, "Role")) == 2
    assert container_env(objects)["LLMTRAIN_NAMESPACES"] == "team-a,team-b"


def test_rbac_create_false_renders_no_rbac_and_a_missing_service_account_name_is_an_error() -> None:
    objects = render({"rbac": {"create": False}})
    assert not [o for o in objects if o["kind"] in {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}]
    result = template({"serviceAccount": {"create": False}}, check=False)
    assert result.returncode != 0
    assert "serviceAccount.name must name an existing ServiceAccount" in result.stderr


def test_operator_rules_helper_returns_the_chart_rules() -> None:
    assert rule_set(operator_rules()) == contract_triples()
    assert rule_set(operator_rules(watch_namespaces=["a"])) == contract_triples()
    assert rule_set(operator_rules(replicas=2)) == contract_triples("clusterkopfpeerings")
    assert rule_set(operator_rules(replicas=2, watch_namespaces=["a"])) == contract_triples("kopfpeerings")
    objects = operator_rbac_objects("ns-1")
    assert kinds(objects) == ["ClusterRole", "ClusterRoleBinding", "ServiceAccount"]
    (_sa,) = find(objects, "ServiceAccount", name=SERVICE_ACCOUNT, namespace="ns-1")
    (role,) = find(objects, "ClusterRole", name="llmtrain-operator-ns-1")
    assert rule_set(role["rules"]) == contract_triples()
    (binding,) = find(objects, "ClusterRoleBinding", name="llmtrain-operator-ns-1")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": "ns-1"}]
    namespaced = operator_rbac_objects("ns-1", watch_namespaces=["ns-2"], replicas=2)
    assert kinds(namespaced) == ["Role", "RoleBinding", "ServiceAccount"]
    (role,) = find(namespaced, "Role", namespace="ns-2")
    assert rule_set(role["rules"]) == contract_triples("kopfpeerings")


# --- replicas, peering, priority, disruption budget ------------------------------------------


def test_one_replica_is_standalone_with_recreate_and_no_peering() -> None:
    objects = render()
    spec = deployment(objects)["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    assert "priorityClassName" not in spec["template"]["spec"]
    assert container_env(objects)["LLMTRAIN_PEERING"] == ""
    assert not [o for o in objects if "kopf.dev" in o["apiVersion"] or o["kind"] == "CustomResourceDefinition"]
    assert not find(objects, "PriorityClass") and not find(objects, "PodDisruptionBudget")


def test_ha_scenario_peers_through_a_cluster_peering_with_priority_and_a_budget() -> None:
    objects = render(values_files=[CHART_DIR / "ci" / "ha-values.yaml"])
    spec = deployment(objects)["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"]["type"] == "RollingUpdate"
    (crd,) = find(objects, "CustomResourceDefinition")
    assert crd["metadata"]["name"] == "clusterkopfpeerings.kopf.dev" and crd["spec"]["scope"] == "Cluster"
    (peering,) = find(objects, "ClusterKopfPeering")
    assert peering["apiVersion"] == "kopf.dev/v1"
    assert container_env(objects)["LLMTRAIN_PEERING"] == peering["metadata"]["name"]
    assert "post-install" in peering["metadata"]["annotations"]["helm.sh/hook"]
    (priority,) = find(objects, "PriorityClass")
    assert spec["template"]["spec"]["priorityClassName"] == priority["metadata"]["name"]
    (pdb,) = find(objects, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 2 and "maxUnavailable" not in pdb["spec"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    (role,) = find(objects, "ClusterRole")
    assert rule_set(role["rules"]) == contract_triples("clusterkopfpeerings")


def test_ha_namespaced_uses_a_namespaced_peering_in_each_watched_namespace() -> None:
    objects = render({"replicas": 2, "watchNamespaces": ["a", "b"], "peering": {"name": "llm-peers"}})
    (crd,) = find(objects, "CustomResourceDefinition")
    assert crd["metadata"]["name"] == "kopfpeerings.kopf.dev" and crd["spec"]["scope"] == "Namespaced"
    assert sorted(p["metadata"]["namespace"] for p in find(objects, "KopfPeering", name="llm-peers")) == ["a", "b"]
    assert not find(objects, "ClusterKopfPeering") and not find(objects, "ClusterRole")
    for role in find(objects, "Role"):
        assert ("kopf.dev", "kopfpeerings", "patch") in rule_set(role["rules"])
        assert ("kopf.dev", "clusterkopfpeerings", "patch") not in rule_set(role["rules"])
    assert container_env(objects)["LLMTRAIN_PEERING"] == "llm-peers"


def test_existing_priority_class_and_peering_crd_owned_elsewhere() -> None:
    objects = render({"replicas": 2, "priorityClassName": "ops-critical", "peering": {"createCRD": False}})
    assert deployment(objects)["spec"]["template"]["spec"]["priorityClassName"] == "ops-critical"
    assert not find(objects, "PriorityClass") and not find(objects, "CustomResourceDefinition")
    (peering,) = find(objects, "ClusterKopfPeering")
    assert "helm.sh/hook" not in peering["metadata"].get("annotations", {}), "an ordinary release object"


def test_pdb_defaults_to_max_unavailable_one() -> None:
    (pdb,) = find(render({"podDisruptionBudget": {"enabled": True}}), "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"]


# --- the Deployment -----------------------------------------------------------------------------


def test_deployment_is_locked_down_and_probed_on_the_health_port() -> None:
    pod = deployment(render())["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["resources"]["requests"].keys() >= {"cpu", "memory"}
    assert container["command"] == ["python", "-m", "llmtrain_operator"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"metrics": 8080, "health": 8081}
    probe = container["livenessProbe"]["httpGet"]
    assert probe["path"] == "/healthz" and ports[probe["port"]] == 8081
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}
    assert not pod.get("hostNetwork") and not pod.get("hostPID")


def test_defaults_pass_the_operator_settings_as_environment() -> None:
    objects = render()
    (container,) = deployment(objects)["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"llmtrain/operator:{VERSION}"
    assert container_env(objects) == {
        "LLMTRAIN_DEFAULT_IMAGE": f"llmtrain/trainer:{VERSION}",
        "LLMTRAIN_GPU_RESOURCE": "nvidia.com/gpu",
        "LLMTRAIN_NAMESPACES": "",
        "LLMTRAIN_SCRAPE_INTERVAL_SECONDS": "10",
        "LLMTRAIN_RECONCILE_WORKERS": "16",
        "LLMTRAIN_LOG_LEVEL": "INFO",
        "LLMTRAIN_LOG_FORMAT": "json",
        "LLMTRAIN_METRICS_PORT": "8080",
        "LLMTRAIN_HEALTH_PORT": "8081",
        "LLMTRAIN_PEERING": "",
        "POD_ID": {"fieldRef": {"fieldPath": "metadata.name"}},
        "POD_NAMESPACE": {"fieldRef": {"fieldPath": "metadata.namespace"}},
    }


def test_values_change_the_settings_ports_and_images() -> None:
    objects = render({
        "image": {"registry": "reg.example.com", "tag": "dev"},
        "trainer": {"image": {"repository": "me/trainer", "tag": "cu128"}},
        "operator": {"logLevel": "DEBUG", "gpuResource": "amd.com/gpu", "scrapeIntervalSeconds": 30,
                     "reconcileWorkers": 4, "metricsPort": 9090, "healthPort": 9091,
                     "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}]},
    })  # fmt: skip
    env = container_env(objects)
    assert env["LLMTRAIN_LOG_LEVEL"] == "DEBUG"
    assert env["LLMTRAIN_GPU_RESOURCE"] == "amd.com/gpu"
    assert env["LLMTRAIN_SCRAPE_INTERVAL_SECONDS"] == "30"
    assert env["LLMTRAIN_RECONCILE_WORKERS"] == "4"
    assert env["LLMTRAIN_DEFAULT_IMAGE"] == "me/trainer:cu128"
    assert env["HTTPS_PROXY"] == "http://proxy:3128"
    assert (env["LLMTRAIN_METRICS_PORT"], env["LLMTRAIN_HEALTH_PORT"]) == ("9090", "9091")
    (container,) = deployment(objects)["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "reg.example.com/llmtrain/operator:dev"
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"metrics": 9090, "health": 9091}
    digest = "sha256:" + "a" * 64
    (pinned,) = deployment(render({"image": {"digest": digest}}))["spec"]["template"]["spec"]["containers"]
    assert pinned["image"] == f"llmtrain/operator@{digest}"


def test_metrics_service_selects_the_operator_pods_on_the_metrics_port() -> None:
    objects = render()
    (service,) = find(objects, "Service")
    pod_labels = deployment(objects)["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}]


def test_long_release_names_are_cut_to_63_characters() -> None:
    release = "a-very-long-release-name-that-goes-on-and-on-for-quit"  # helm's limit: 53
    objects = render({"podMonitor": {"enabled": True}, "replicas": 2}, release=release)
    for obj in objects:
        assert len(obj["metadata"]["name"]) <= 63
        assert not obj["metadata"]["name"].endswith("-")
        for value in obj["metadata"]["labels"].values():
            assert len(value) <= 63
    objects = render({"fullnameOverride": "x" * 62 + "-"})
    assert deployment(objects)["metadata"]["name"] == "x" * 62


# --- monitoring ----------------------------------------------------------------------------


def test_monitoring_scenario_scrapes_the_operator_and_rank_zero_of_every_job() -> None:
    objects = render(values_files=[CHART_DIR / "ci" / "monitoring-values.yaml"])
    (service,) = find(objects, "Service")
    (monitor,) = find(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [DEFAULT_NAMESPACE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert (endpoint["interval"], endpoint["scrapeTimeout"]) == ("30s", "10s")
    (pods,) = find(objects, "PodMonitor")
    assert pods["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/managed-by": "llmtrain-operator", "llmtrain.dev/node-rank": "0",
    }  # fmt: skip
    assert pods["spec"]["namespaceSelector"] == {"any": True}
    (pod_endpoint,) = pods["spec"]["podMetricsEndpoints"]
    assert pod_endpoint["port"] == "metrics" and pod_endpoint["path"] == "/metrics"
    assert pod_endpoint["metricRelabelings"][0]["action"] == "keep"


def test_pod_monitor_follows_the_watched_namespaces() -> None:
    objects = render({"watchNamespaces": ["a", "b"], "podMonitor": {"enabled": True}})
    (pods,) = find(objects, "PodMonitor")
    assert pods["spec"]["namespaceSelector"] == {"matchNames": ["a", "b"]}


def test_monitors_are_off_by_default() -> None:
    objects = render()
    assert not find(objects, "ServiceMonitor") and not find(objects, "PodMonitor")


# --- values schema and documentation ----------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replica": 3}, "additional properties 'replica' not allowed"),
        ({"operator": {"loglevel": "DEBUG"}}, "additional properties 'loglevel' not allowed"),
        ({"serviceMonitor": {"enable": True}}, "additional properties 'enable' not allowed"),
        ({"operator": {"logLevel": "verbose"}}, "/operator/logLevel"),
        ({"replicas": 0}, "/replicas"),
        ({"watchNamespaces": ["Team_A"]}, "/watchNamespaces/0"),
        ({"operator": {"metricsPort": 70000}}, "/operator/metricsPort"),
        ({"strategy": {"type": "BlueGreen"}}, "/strategy/type"),
        ({"image": {"digest": "latest"}}, "/image/digest"),
    ],
    ids=["typo-top", "typo-nested", "typo-monitor", "enum", "minimum", "namespace", "port", "strategy", "digest"],
)
def test_schema_refuses_bad_values_with_a_clear_message(values: dict[str, Any], message: str) -> None:
    result = template(values, check=False)
    assert result.returncode != 0, f"accepted {values}"
    assert "values don't meet the specifications of the schema" in result.stderr, result.stderr
    assert message in result.stderr, result.stderr


def _schema_leaves(schema: dict[str, Any], path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths of the documented values: schema properties that are not groups of further ones."""
    if schema.get("additionalProperties") is False and "$comment" not in schema:
        return [leaf for name, sub in schema["properties"].items() for leaf in _schema_leaves(sub, (*path, name))]
    return [path]


def test_every_value_has_a_default_a_comment_and_a_schema() -> None:
    schema = yaml.safe_load((CHART_DIR / "values.schema.json").read_text())
    text = (CHART_DIR / "values.yaml").read_text()
    defaults = yaml.safe_load(text)
    lines = text.splitlines()
    for path in _schema_leaves(schema):
        if path == ("global",):
            continue
        node: Any = defaults
        for key in path:
            assert key in node, f"{'.'.join(path)} is in the schema but has no default in values.yaml"
            node = node[key]
        # The key's line (indented by its depth) must follow a comment line.
        pattern = re.compile(r"^" + "  " * (len(path) - 1) + re.escape(path[-1]) + r":")
        parents_seen = 0
        for number, line in enumerate(lines):
            if parents_seen < len(path) - 1:
                if re.match(r"^" + "  " * parents_seen + re.escape(path[parents_seen]) + r":", line):
                    parents_seen += 1
                continue
            if pattern.match(line):
                assert lines[number - 1].lstrip().startswith("#"), f"{'.'.join(path)} has no comment in values.yaml"
                break
        else:
            raise AssertionError(f"{'.'.join(path)} not found in values.yaml")


def test_schema_is_strict_everywhere_it_describes_the_chart() -> None:
    schema = yaml.safe_load((CHART_DIR / "values.schema.json").read_text())

    def walk(node: dict[str, Any], path: str) -> None:
        if "properties" in node and "$comment" not in node:  # $comment: a Kubernetes structure
            assert node.get("additionalProperties") is False, f"{path} accepts unknown keys"
            for name, sub in node["properties"].items():
                assert sub.get("description") or path == "", f"{path}.{name} has no description"
                walk(sub, f"{path}.{name}")

    walk(schema, "")


# --- manifests/install.yaml ----------------------------------------------------------------------


def test_install_manifest_is_the_chart_rendered_with_defaults() -> None:
    """Fails when the chart changed and `make manifests` was not run."""
    committed = INSTALL_MANIFEST.read_text()
    rendered = template(extra_args=["--include-crds", "--skip-tests"]).stdout
    assert committed.endswith(rendered), "manifests/install.yaml is stale: run `make manifests`"
    header = yaml.safe_load_all(committed[: len(committed) - len(rendered)])
    assert [doc for doc in header if doc] == [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": DEFAULT_NAMESPACE}}
    ]


def test_make_manifests_reproduces_the_committed_file(tmp_path: Path) -> None:
    out = tmp_path / "install.yaml"
    helm_binary()  # built by `make testenv` when missing; chart.mk alone has no rule for it
    subprocess.run(
        ["make", "-s", "-f", "charts/chart.mk", "manifests", f"INSTALL_MANIFEST={out}"],
        cwd=REPO_ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert out.read_text() == INSTALL_MANIFEST.read_text()
