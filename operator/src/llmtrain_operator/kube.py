"""The few API calls the operator makes, with the idempotence it relies on:
creating what exists and deleting what is gone are not errors."""

from __future__ import annotations

import json
import logging
import socket
import threading
from datetime import UTC, datetime
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient, Resource
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from llmtrain.api.job import GROUP, PLURAL, VERSION
from llmtrain_operator.children import Manifest

NOT_FOUND, CONFLICT = 404, 409
PERMANENT_STATUSES = frozenset({400, 422})
"""BadRequest and Invalid: the object itself is wrong. Others (quota, throttling, a webhook
down, a server error) can pass on a later try."""
EVENT_SOURCE = "llmtrain-operator"
MESSAGE_LIMIT = 1024
logger = logging.getLogger(__name__)


def api_message(error: ApiException) -> str:
    """The API server's own message (a Status object's `message`), else the HTTP reason; the
    dynamic client's errors (kubernetes.dynamic.exceptions) are ApiExceptions with the same
    status and body."""
    try:
        message = json.loads(error.body or "{}").get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or f"{error.status} {error.reason}")


class MissingApiError(RuntimeError):
    """The cluster does not serve a resource the job needs (e.g. no PodGroup CRD)."""


def _missing_api_message(api_version: str, kind: str) -> str:
    if kind == "PodGroup":
        return (
            f"the cluster serves no {api_version} PodGroup: install the gang scheduler "
            "or set spec.scheduling.gang.enabled to false"
        )
    return f"the cluster serves no {api_version} {kind}"


class KubeApi:
    """Wrappers over the official client: the typed APIs, and its dynamic client for the
    children, whatever their kind."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self._dynamic: DynamicClient | None = None
        self._resources: dict[tuple[str, str], Resource] = {}
        self._resources_lock = threading.Lock()

    @property
    def dynamic(self) -> DynamicClient:
        """The dynamic client, made on first use (it reads the cluster's discovery then)."""
        with self._resources_lock:
            if self._dynamic is None:
                # kubernetes.dynamic carries no annotations: hence the ignores.
                self._dynamic = DynamicClient(self.api_client)  # type: ignore[no-untyped-call]
            return self._dynamic

    def resource(self, api_version: str, kind: str) -> Resource:
        """The API resource of a kind, found by discovery on first use and kept; a kind the
        cluster does not serve is ResourceNotFoundError (and is looked up again next time)."""
        key = (api_version, kind)
        dynamic = self.dynamic
        with self._resources_lock:  # discovery is not thread-safe, and jobs are reconciled in parallel
            if key not in self._resources:
                self._resources[key] = dynamic.resources.get(api_version=api_version, kind=kind)
            return self._resources[key]

    def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The job as stored now, or None when it is gone."""
        try:
            job = cast(
                dict[str, Any], self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
            )
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
        """Create a child; False when it already existed. A child whose API the cluster does
        not serve (a PodGroup without its gang scheduler) is MissingApiError."""
        api_version, kind = manifest["apiVersion"], manifest["kind"]
        try:
            resource = self.resource(api_version, kind)
            self.dynamic.create(  # type: ignore[no-untyped-call]
                resource, body=manifest, namespace=manifest["metadata"]["namespace"]
            )
        except ResourceNotFoundError:
            raise MissingApiError(_missing_api_message(api_version, kind)) from None
        except ApiException as error:
            if error.status == CONFLICT:
                return False
            if error.status == NOT_FOUND and kind == "PodGroup":
                # Discovered earlier, and the CRD has gone since.
                with self._resources_lock:
                    self._resources.pop((api_version, kind), None)
                raise MissingApiError(_missing_api_message(api_version, kind)) from None
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
        now = datetime.now(UTC).isoformat()
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
            logger.warning(
                "could not post event %s on %s/%s: %s", reason, metadata["namespace"], metadata["name"], error.reason
            )

    def delete_pod(self, namespace: str, name: str, grace_seconds: int | None = None) -> None:
        """Delete a pod (its kubelet stops the process: SIGTERM, then SIGKILL after the grace
        period: the pod's own unless `grace_seconds` is shorter)."""
        try:
            self.core.delete_namespaced_pod(name, namespace, grace_period_seconds=grace_seconds)
        except ApiException as error:
            if error.status != NOT_FOUND:
                raise
