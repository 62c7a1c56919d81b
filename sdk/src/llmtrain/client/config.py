"""Where the cluster is and which namespace to use, as kubectl decides it.

A kubeconfig (the --kubeconfig file, else $KUBECONFIG, else ~/.kube/config) wins over
the in-cluster service account, so that a notebook in a pod with a kubeconfig mounted
talks to the cluster it names; the namespace is the explicit one, else the context's,
else the pod's own, else "default".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kubernetes.client import ApiClient, Configuration
from kubernetes.config import incluster_config, kube_config
from kubernetes.config.config_exception import ConfigException

from llmtrain.client.errors import config_error

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULT_KUBECONFIG = Path("~/.kube/config")


@dataclass(frozen=True)
class ClusterConfig:
    """An API client for one cluster and the namespace requests go to by default."""

    api_client: ApiClient
    namespace: str
    server: str


def load(kubeconfig: str | os.PathLike[str] | None = None, context: str | None = None, namespace: str | None = None) -> ClusterConfig:
    """The cluster to talk to; raises ConfigError when there is none."""
    path = _kubeconfig_path(kubeconfig)
    configuration = Configuration()
    # The kubernetes package's config loaders carry no annotations: hence the ignores.
    try:
        if path is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            loader = incluster_config.InClusterConfigLoader(  # type: ignore[no-untyped-call]
                token_filename=incluster_config.SERVICE_TOKEN_FILENAME,
                cert_filename=incluster_config.SERVICE_CERT_FILENAME,
            )
            loader.load_and_set(configuration)  # type: ignore[no-untyped-call]
            default_namespace = _pod_namespace()
        else:
            if path is None:
                raise ConfigException(f"no kubeconfig at {DEFAULT_KUBECONFIG} and KUBECONFIG is not set")
            kube_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(path), context=context, client_configuration=configuration, persist_config=False
            )
            default_namespace = _context_namespace(path, context)
    except (ConfigException, OSError) as error:
        raise config_error(error) from error
    return ClusterConfig(
        api_client=ApiClient(configuration),
        namespace=namespace or default_namespace,
        server=str(configuration.host),
    )


def _kubeconfig_path(explicit: str | os.PathLike[str] | None) -> Path | None:
    if explicit is not None:
        return Path(explicit).expanduser()
    if os.environ.get("KUBECONFIG"):
        # Like kubectl, the first file of a KUBECONFIG list holds the current context.
        return Path(os.environ["KUBECONFIG"].split(os.pathsep)[0]).expanduser()
    default = DEFAULT_KUBECONFIG.expanduser()
    return default if default.exists() else None


def _context_namespace(path: Path, context: str | None) -> str:
    contexts, current = kube_config.list_kube_config_contexts(config_file=str(path))  # type: ignore[no-untyped-call]
    chosen = next((c for c in contexts if c["name"] == context), None) if context else current
    if chosen is None:
        raise ConfigException(f"context {context!r} not found in {path}")
    return str((chosen.get("context") or {}).get("namespace") or "default")


def _pod_namespace() -> str:
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"
