"""The few API calls the operator makes, with the idempotence it relies on:
creating what exists and deleting what is gone are not errors.

Requests go through the official client's transport (its configuration, authentication and
connection pool) but send and read plain JSON: its typed models cost more CPU to build and
parse than the whole reconcile, and the operator reads jobs and pods from its watch caches.
"""

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
CORE_RESOURCES = {"Pod": "pods", "Service": "services", "ConfigMap": "configmaps"}
"""The core kinds the operator creates; other kinds are found by discovery."""
JSON = "application/json"
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


def _missing_api_message(api_version: str, kind: str) -> str:
    if kind == "PodGroup":
        return (
            f"the cluster serves no {api_version} PodGroup: install the gang scheduler "
            "or set spec.scheduling.gang.enabled to false"
        )
    return f"the cluster serves no {api_version} {kind}"


class KubeApi:
    """The API calls of a reconcile; safe to use from many threads at once."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client
        self._dynamic: DynamicClient | None = None
        self._resources: dict[tuple[str, str], Resource] = {}
        self._resources_lock = threading.Lock()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = JSON,
    ) -> dict[str, Any]:
        """One API request; the response's JSON object. Any status outside 2xx is an
        ApiException (NotFoundException, ConflictException, ... by status)."""
        serialized = self.api_client.param_serialize(
            method,
            path,
            query_params=query or [],
            header_params={"Accept": JSON, "Content-Type": content_type},
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(*serialized)
        data: bytes = response.read()  # type: ignore[no-untyped-call]
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=data.decode(errors="replace"), data=None)
        return cast(dict[str, Any], json.loads(data)) if data else {}

    def _path(self, api_version: str, kind: str, namespace: str) -> str:
        if api_version == "v1" and kind in CORE_RESOURCES:
            return f"/api/v1/namespaces/{namespace}/{CORE_RESOURCES[kind]}"
        try:
            return str(self._resource(api_version, kind).path(namespace=namespace))  # type: ignore[no-untyped-call]
        except ResourceNotFoundError:
            raise MissingApiError(_missing_api_message(api_version, kind)) from None

    def _resource(self, api_version: str, kind: str) -> Resource:
        """A kind's API resource, found by discovery on first use and kept; a kind the
        cluster does not serve is ResourceNotFoundError (and is looked up again next time)."""
        key = (api_version, kind)
        with self._resources_lock:  # discovery is not thread-safe
            if self._dynamic is None:
                # kubernetes.dynamic carries no annotations: hence the ignore.
                self._dynamic = DynamicClient(self.api_client)  # type: ignore[no-untyped-call]
            if key not in self._resources:
                self._resources[key] = self._dynamic.resources.get(api_version=api_version, kind=kind)
            return self._resources[key]

    @staticmethod
    def _job_path(namespace: str, name: str) -> str:
        return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}"

    def write_status(self, namespace: str, name: str, status: dict[str, Any], resource_version: str) -> dict[str, Any]:
        """Replace the whole status of the job as it was at `resource_version`; the job as
        stored afterwards. A JSON patch, so that fields that went away are removed; with the
        resourceVersion, so a status computed from an older job is a 409 (ConflictException)
        rather than a write over a change it never saw."""
        patch = [
            {"op": "replace", "path": "/metadata/resourceVersion", "value": resource_version},
            {"op": "add", "path": "/status", "value": status},
        ]
        return self.request(
            "PATCH", f"{self._job_path(namespace, name)}/status", patch, content_type="application/json-patch+json"
        )

    def delete_job(self, namespace: str, name: str) -> None:
        """Delete the job; its children follow through owner references."""
        try:
            self.request("DELETE", self._job_path(namespace, name), query=[("propagationPolicy", "Background")])
        except ApiException as error:
            if error.status != NOT_FOUND:
                raise

    def create(self, manifest: Manifest) -> bool:
        """Create a child; False when it already existed. A child whose API the cluster does
        not serve (a PodGroup without its gang scheduler) is MissingApiError."""
        api_version, kind = manifest["apiVersion"], manifest["kind"]
        path = self._path(api_version, kind, manifest["metadata"]["namespace"])
        try:
            self.request("POST", path, manifest)
        except ApiException as error:
            if error.status == CONFLICT:
                return False
            if error.status == NOT_FOUND and (api_version, kind) in self._resources:
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
            self.request(
                "PATCH",
                f"/api/v1/namespaces/{metadata['namespace']}/configmaps/{metadata['name']}",
                {"data": manifest["data"]},
                content_type="application/merge-patch+json",
            )

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
            self.request("POST", f"/api/v1/namespaces/{metadata['namespace']}/events", event)
        except (ApiException, OSError) as error:
            detail = api_message(error) if isinstance(error, ApiException) else str(error)
            logger.warning(
                "could not post event %s on %s/%s: %s", reason, metadata["namespace"], metadata["name"], detail
            )

    def delete_pod(self, namespace: str, name: str, grace_seconds: int | None = None) -> bool:
        """Delete a pod (its kubelet stops the process: SIGTERM, then SIGKILL after the grace
        period: the pod's own unless `grace_seconds` is shorter); False when it was gone."""
        query = [("gracePeriodSeconds", str(grace_seconds))] if grace_seconds is not None else []
        try:
            self.request("DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}", query=query)
        except ApiException as error:
            if error.status != NOT_FOUND:
                raise
            return False
        return True
