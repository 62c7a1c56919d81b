"""Where the cluster is and which namespace to use, as kubectl decides it.

A kubeconfig (the --kubeconfig file, else the files of $KUBECONFIG, else ~/.kube/config)
wins over the in-cluster service account, so that a notebook in a pod with a kubeconfig
mounted talks to the cluster it names; the namespace is the explicit one, else the
context's, else the pod's own, else "default".

The files of a $KUBECONFIG list are merged as kubectl merges them (the official client's
KubeConfigMerger): files that do not exist are skipped, the first file to define a
cluster, user or context by a name wins, and the current context is that of the first
file that sets one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def load(
    kubeconfig: str | os.PathLike[str] | None = None, context: str | None = None, namespace: str | None = None
) -> ClusterConfig:
    """The cluster to talk to; raises ConfigError when there is none."""
    files = _kubeconfig_files(kubeconfig)
    configuration = Configuration()
    # The kubernetes package's config loaders carry no annotations: hence the ignores.
    try:
        if files is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            in_cluster = incluster_config.InClusterConfigLoader(  # type: ignore[no-untyped-call]
                token_filename=incluster_config.SERVICE_TOKEN_FILENAME,
                cert_filename=incluster_config.SERVICE_CERT_FILENAME,
            )
            in_cluster.load_and_set(configuration)  # type: ignore[no-untyped-call]
            default_namespace = _pod_namespace()
        else:
            if files is None:
                raise ConfigException(f"no kubeconfig at {DEFAULT_KUBECONFIG} and KUBECONFIG is not set")
            loader = kube_config.KubeConfigLoader(  # type: ignore[no-untyped-call]
                # config_base_path None: relative file names are relative to the file that holds them.
                config_dict=_merged(files),
                active_context=context,
                config_base_path=None,
            )
            loader.load_and_set(configuration)  # type: ignore[no-untyped-call]
            default_namespace = str((loader.current_context.get("context") or {}).get("namespace") or "default")
    except (ConfigException, OSError) as error:
        raise config_error(error) from error
    return ClusterConfig(
        api_client=ApiClient(configuration),
        namespace=namespace or default_namespace,
        server=str(configuration.host),
    )


def _kubeconfig_files(explicit: str | os.PathLike[str] | None) -> str | None:
    """The kubeconfig file, or list of files, to read (kube_config.ENV_KUBECONFIG_PATH_SEPARATOR
    between them, as in $KUBECONFIG)."""
    if explicit is not None:
        return str(Path(explicit).expanduser())
    if os.environ.get("KUBECONFIG"):
        return os.environ["KUBECONFIG"]
    default = DEFAULT_KUBECONFIG.expanduser()
    return str(default) if default.exists() else None


def _merged(files: str) -> Any:
    """The kubeconfig that `files` make together, merged as kubectl merges them."""
    merger = kube_config.KubeConfigMerger(files)  # type: ignore[no-untyped-call]
    if merger.config is None:
        raise ConfigException(f"no kubeconfig at {files}")
    # The merger lets the last file that sets current-context win; kubectl, the first.
    current = next((c for path in merger.paths if (c := merger.config_files[path].get("current-context"))), None)
    if current is not None:
        merger.config.value["current-context"] = current
    return merger.config


def _pod_namespace() -> str:
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"
