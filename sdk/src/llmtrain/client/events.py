"""Kubernetes Events about a job and its pods, oldest first, as `kubectl describe` shows them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes.client import CoreV1Api

from llmtrain.api.job import KIND
from llmtrain.api.names import is_pod_of
from llmtrain.client.watch import list_objects

EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class JobEvent:
    """One Event: when it last happened, Normal or Warning, the reason, which object, and what."""

    time: datetime | None
    type: str
    reason: str
    object: str
    message: str
    count: int


def _time(event: dict[str, Any]) -> datetime | None:
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        if event.get(key):
            return datetime.fromisoformat(str(event[key]).replace("Z", "+00:00"))
    created = event["metadata"].get("creationTimestamp")
    return datetime.fromisoformat(created.replace("Z", "+00:00")) if created else None


def list_events(core: CoreV1Api, namespace: str, job: str) -> list[JobEvent]:
    """Events whose object is the job or one of its pods (`<job>-node-<rank>`)."""
    own, _ = list_objects(
        core.list_namespaced_event,
        namespace=namespace,
        field_selector=f"involvedObject.kind={KIND},involvedObject.name={job}",
    )
    pods, _ = list_objects(core.list_namespaced_event, namespace=namespace, field_selector="involvedObject.kind=Pod")
    events = own + [event for event in pods if is_pod_of(job, event["involvedObject"].get("name", ""))]
    result = [
        JobEvent(
            time=_time(event),
            type=event.get("type") or "Normal",
            reason=event.get("reason") or "",
            object=f"{event['involvedObject'].get('kind')}/{event['involvedObject'].get('name')}",
            message=(event.get("message") or "").strip(),
            count=int(event.get("count") or 1),
        )
        for event in events
    ]
    return sorted(result, key=lambda e: e.time or EPOCH)
