"""The environment of a container, resolved the way the kubelet does: envFrom, then env with
`$(VAR)` expansion, downward API fields and resources, ConfigMap and Secret keys."""

from __future__ import annotations

import base64
import math
import re

from kubernetes.utils import parse_quantity

from testenv.kubeapi import ApiError, KubeAPI, Obj

_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class ConfigError(Exception):
    """The container cannot be configured yet (CreateContainerConfigError)."""


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion: unknown references stay, `$$` escapes."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _REFERENCE.sub(replace, text)


def field_value(pod: Obj, path: str) -> str:
    """A downward API fieldRef of `pod`."""
    meta, spec, status = pod["metadata"], pod["spec"], pod.get("status", {})
    if match := re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path):
        return str(meta.get(match.group(1), {}).get(match.group(2), ""))
    simple = {
        "metadata.name": meta["name"],
        "metadata.namespace": meta["namespace"],
        "metadata.uid": meta["uid"],
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": status.get("hostIP", ""),
        "status.hostIPs": ",".join(ip["ip"] for ip in status.get("hostIPs", [])),
        "status.podIP": status.get("podIP", ""),
        "status.podIPs": ",".join(ip["ip"] for ip in status.get("podIPs", [])),
    }
    if path in simple:
        return str(simple[path])
    if path in ("metadata.labels", "metadata.annotations"):
        values = meta.get(path.split(".")[1], {})
        return "\n".join(f'{k}="{v}"' for k, v in sorted(values.items()))
    raise ConfigError(f"unsupported fieldRef {path!r}")


def resource_value(pod: Obj, ref: Obj, default_container: str, allocatable: dict[str, str]) -> str:
    """A downward API resourceFieldRef; an unset limit reads as the node's allocatable."""
    name = ref.get("containerName") or default_container
    container = next(c for c in _all_containers(pod) if c["name"] == name)
    kind, _, resource = ref["resource"].partition(".")
    resources = container.get("resources", {})
    value = resources.get(kind, {}).get(resource)
    if value is None and kind == "requests":
        value = resources.get("limits", {}).get(resource)
    if value is None:
        value = allocatable.get(resource, "0") if kind == "limits" else "0"
    return divide_up(value, ref.get("divisor"))


def divide_up(quantity: str, divisor: str | None) -> str:
    """`quantity / divisor` rounded up, as the downward API reports resources (the API
    server defaults an unset divisor to "0", which means 1)."""
    # kubernetes.utils carries no annotations.
    value = parse_quantity(quantity) / (parse_quantity(divisor or "1") or 1)  # type: ignore[no-untyped-call]
    return str(math.ceil(value))


def key_value(api: KubeAPI, namespace: str, kind: str, ref: Obj) -> str | None:
    """A key of a ConfigMap or Secret; None when optional and missing."""
    plural = "configmaps" if kind == "configMap" else "secrets"
    try:
        obj = api.get(f"/api/v1/namespaces/{namespace}/{plural}/{ref['name']}")
    except ApiError as e:
        if e.status != 404:
            raise
        if ref.get("optional"):
            return None
        raise ConfigError(f'{kind} "{ref["name"]}" not found') from None
    data = data_of(obj)
    if ref["key"] not in data:
        if ref.get("optional"):
            return None
        raise ConfigError(f"couldn't find key {ref['key']} in {kind} {namespace}/{ref['name']}")
    return data[ref["key"]].decode(errors="replace")


def data_of(obj: Obj) -> dict[str, bytes]:
    """The decoded contents of a ConfigMap or Secret."""
    data: dict[str, bytes] = {}
    if obj["kind"] == "Secret":
        data.update({k: base64.b64decode(v) for k, v in obj.get("data", {}).items()})
        data.update({k: v.encode() for k, v in obj.get("stringData", {}).items()})
    else:
        data.update({k: v.encode() for k, v in obj.get("data", {}).items()})
        data.update({k: base64.b64decode(v) for k, v in obj.get("binaryData", {}).items()})
    return data


def container_env(
    api: KubeAPI, pod: Obj, container: Obj, base: dict[str, str], allocatable: dict[str, str]
) -> dict[str, str]:
    """`base` overlaid with the container's envFrom and env, as the kubelet resolves them."""
    namespace = pod["metadata"]["namespace"]
    env = dict(base)
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        for kind, plural in (("configMapRef", "configmaps"), ("secretRef", "secrets")):
            if kind not in source:
                continue
            ref = source[kind]
            try:
                obj = api.get(f"/api/v1/namespaces/{namespace}/{plural}/{ref['name']}")
            except ApiError as e:
                if e.status != 404:
                    raise
                if ref.get("optional"):
                    continue
                raise ConfigError(f'{plural[:-1]} "{ref["name"]}" not found') from None
            env.update({prefix + k: v.decode(errors="replace") for k, v in data_of(obj).items()})
    for var in container.get("env", []):
        source = var.get("valueFrom")
        value: str | None
        if source is None:
            value = expand(var.get("value", ""), env)
        elif "fieldRef" in source:
            value = field_value(pod, source["fieldRef"]["fieldPath"])
        elif "resourceFieldRef" in source:
            value = resource_value(pod, source["resourceFieldRef"], container["name"], allocatable)
        elif "configMapKeyRef" in source:
            value = key_value(api, namespace, "configMap", source["configMapKeyRef"])
        elif "secretKeyRef" in source:
            value = key_value(api, namespace, "secret", source["secretKeyRef"])
        else:
            raise ConfigError(f"unsupported valueFrom of {var['name']}: {sorted(source)}")
        if value is not None:
            env[var["name"]] = value
    return env


def _all_containers(pod: Obj) -> list[Obj]:
    return [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]
