"""The few API calls the operator makes, with the idempotence it relies on:
creating what exists and deleting what is gone are not errors."""

from __future__ import annotations

import json
import logging
import socket
from datetime import datetime, timezone
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from llmtrain.api.job import GROUP, PLURAL, VERSION

from llmtrain_operator.children import POD_GROUP_APIS, Manifest

NOT_FOUND, CONFLICT = 404, 409
PERMANENT_STATUSES = frozenset({400, 422})
"""BadRequest and Invalid: the object itself is wrong. Others (quota, throttling, a webhook
down, a server error) can pass on a later try."""
EVENT_SOURCE = "llmtrain-operator"
MESSAGE_LIMIT = 1024
logger = logging.getLogger(__name__)


def api_message(error: ApiException) -> str:
    """The API server's own message (a Status object's `message`), else the HTTP reason."""
    try:
        message = json.loads(error.body or "{}").get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or f"{error.status} {error.reason}")


class MissingApiError(RuntimeError):
    """The cluster does not serve a resource the job needs (e.g. no PodGroup CRD)."""


class KubeApi:
    """Typed wrappers over the official client."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)

    def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The job as stored now, or None when it is gone."""
        try:
            job = cast(dict[str, Any], self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name))
        except ApiException as error:
            if error.status == NOT_FOUND:
                return None
            raise
        return job

    def list_jobs(self, namespaces: tuple[str, ...]) -> list[dict[str, Any]]:
        """Every job in the watched namespaces (all when none are named)."""
        if not namespaces:
            listed = cast(dict[str, Any], self.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL))
            return list(listed["items"])
        items: list[dict[str, Any]] = []
        for namespace in namespaces:
            listed = cast(dict[str, Any], self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL))
            items += listed["items"]
        return items

    def write_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Replace the whole status; a JSON patch so that fields that went away are removed."""
        patch = [{"op": "add", "path": "/status", "value": status}]
        self.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, name, patch, _content_type="application/json-patch+json"
        )

    def delete_job(self, namespace: str, name: str) -> None:
        """Delete the job; its children follow through owner references."""
        try:
            self.custom.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, propagation_policy="Background"
            )
        except ApiException as error:
            if error.status != NOT_FOUND:
                raise

    def create(self, manifest: Manifest) -> bool:
        """Create a child; False when it already existed."""
        namespace = manifest["metadata"]["namespace"]
        kind = manifest["kind"]
        try:
            if kind == "Pod":
                self.core.create_namespaced_pod(namespace, client.V1Pod.model_validate(manifest))
            elif kind == "Service":
                self.core.create_namespaced_service(namespace, client.V1Service.model_validate(manifest))
            elif kind == "ConfigMap":
                self.core.create_namespaced_config_map(namespace, client.V1ConfigMap.model_validate(manifest))
            elif kind == "PodGroup":
                group, version = manifest["apiVersion"].split("/")
                plural = next(p for g, v, p in POD_GROUP_APIS.values() if (g, v) == (group, version))
                self.custom.create_namespaced_custom_object(group, version, namespace, plural, manifest)
            else:
                raise ValueError(f"the operator does not create {kind} objects")
        except ApiException as error:
            if error.status == CONFLICT:
                return False
            if error.status == NOT_FOUND and kind == "PodGroup":
                raise MissingApiError(
                    f"the cluster serves no {manifest['apiVersion']} PodGroup: install the gang scheduler "
                    "or set spec.scheduling.gang.enabled to false"
                ) from None
            raise
        return True

    def update_config_map(self, manifest: Manifest) -> None:
        """Create the trainer's ConfigMap, or bring its data up to date for a new attempt."""
        if not self.create(manifest):
            metadata = manifest["metadata"]
            self.core.patch_namespaced_config_map(metadata["name"], metadata["namespace"], {"data": manifest["data"]})

    def post_event(self, job: dict[str, Any], type_: str, reason: str, message: str) -> None:
        """A Kubernetes Event on the job; losing one is logged, never fatal."""
        metadata = job["metadata"]
        now = datetime.now(timezone.utc).isoformat()
        event = {
            "metadata": {"generateName": f"{metadata['name']}.", "namespace": metadata["namespace"]},
            "involvedObject": {
                "apiVersion": job["apiVersion"],
                "kind": job["kind"],
                "name": metadata["name"],
                "namespace": metadata["namespace"],
                "uid": metadata["uid"],
            },
            "type": type_,
            "reason": reason,
            "message": message[:MESSAGE_LIMIT],
            "source": {"component": EVENT_SOURCE},
            "reportingComponent": EVENT_SOURCE,
            "reportingInstance": socket.gethostname(),
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            self.core.create_namespaced_event(metadata["namespace"], client.CoreV1Event.model_validate(event))
        except ApiException as error:
            logger.warning("could not post event %s on %s/%s: %s", reason, metadata["namespace"], metadata["name"], error.reason)

    def delete_pod(self, namespace: str, name: str, grace_seconds: int | None = None) -> None:
        """Delete a pod (its kubelet stops the process: SIGTERM, then SIGKILL after the grace
        period: the pod's own unless `grace_seconds` is shorter)."""
        try:
            self.core.delete_namespaced_pod(name, namespace, grace_period_seconds=grace_seconds)
        except ApiException as error:
            if error.status != NOT_FOUND:
                raise
