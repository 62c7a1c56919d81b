"""List-then-watch over any Kubernetes list call, the way informers do it.

The first list gives the current objects and a resourceVersion; watches continue from
there (each one bounded so that a dead connection cannot hang the caller), and when the
API server has compacted that version away (410 Gone) the objects are listed again.
Objects stay plain dictionaries: callers validate them into their own models.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException
from urllib3 import HTTPResponse

from llmtrain.api.job import GROUP, PLURAL, VERSION
from llmtrain.client.stream import lines, raw

EventType = Literal["ADDED", "MODIFIED", "DELETED", "SYNC"]

WATCH_SECONDS = 60
"""Longest single watch request; the watch goes on from where it stopped."""
GONE = 410


@dataclass(frozen=True)
class Event:
    """An object as it changed: ADDED, MODIFIED, DELETED, or SYNC for every object of a (re)list."""

    type: EventType
    object: dict[str, Any]


ListCall = Callable[..., Any]


def _abort(response: HTTPResponse) -> None:
    # close() would wait for the lock that the reading thread holds inside ssl.read()
    # until the server next sends something; shutting the socket down wakes that read.
    sock = getattr(getattr(response, "connection", None), "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


@dataclass
class Stopper:
    """Ends a watch or a followed log from another thread by cutting the connection it reads."""

    stopped: bool = False
    _response: HTTPResponse | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, response: HTTPResponse) -> None:
        """Remember the answer being read, cutting it at once if stop() came first."""
        with self._lock:
            self._response = response
            if self.stopped:
                _abort(response)

    def stop(self) -> None:
        """Make the reader return at once."""
        with self._lock:
            self.stopped = True
            if self._response is not None:
                _abort(self._response)


class JobSelectors(TypedDict):
    """Arguments of the custom-objects list call that select one job."""

    group: str
    version: str
    namespace: str
    plural: str
    field_selector: str


def one_job(namespace: str, name: str) -> JobSelectors:
    """The selectors that list or watch a single LLMTrainingJob by name."""
    return {
        "group": GROUP,
        "version": VERSION,
        "namespace": namespace,
        "plural": PLURAL,
        "field_selector": f"metadata.name={name}",
    }


def list_objects(call: ListCall, /, **selectors: str) -> tuple[list[dict[str, Any]], str]:
    """The objects a list call returns, as dictionaries, and the list's resourceVersion."""
    response = call(**selectors, _preload_content=False)
    listing = json.loads(response.data)
    return list(listing.get("items") or []), str(listing["metadata"]["resourceVersion"])


def list_and_watch(
    call: ListCall, /, *, deadline: float | None = None, stopper: Stopper | None = None, **selectors: str
) -> Iterator[Event]:
    """Every object matching `selectors` now (SYNC), then every change, until `deadline` (time.monotonic)."""
    items, version = list_objects(call, **selectors)
    for item in items:
        yield Event("SYNC", item)
    yield from watch_from(call, version, deadline=deadline, stopper=stopper, **selectors)


def watch_from(
    call: ListCall, since: str, /, *, deadline: float | None = None, stopper: Stopper | None = None, **selectors: str
) -> Iterator[Event]:
    """Every change after resourceVersion `since`; a SYNC of every object when that version has expired.

    `call` and `since` are positional-only: the selectors of custom objects include `version`.
    """
    version: str | None = since
    stopper = stopper or Stopper()
    while not stopper.stopped and (deadline is None or time.monotonic() < deadline):
        if version is None:
            items, version = list_objects(call, **selectors)
            for item in items:
                yield Event("SYNC", item)
        seconds = WATCH_SECONDS
        if deadline is not None:
            seconds = max(1, min(WATCH_SECONDS, int(deadline - time.monotonic()) + 1))
        try:
            response = raw(
                call(
                    **selectors,
                    watch=True,
                    resource_version=version,
                    allow_watch_bookmarks=True,
                    timeout_seconds=seconds,
                    _request_timeout=seconds + 30,
                    _preload_content=False,
                )
            )
        except ApiException as error:
            if error.status != GONE:
                raise
            version = None
            continue
        stopper.attach(response)
        try:
            for line in lines(response):
                if not line.strip():
                    continue
                change = json.loads(line)
                obj = change["object"]
                if change["type"] == "ERROR":
                    if obj.get("code") != GONE:
                        raise ApiException(status=obj.get("code"), reason=obj.get("message"), body=json.dumps(obj))
                    version = None
                    break
                version = str(obj["metadata"]["resourceVersion"])
                if change["type"] != "BOOKMARK":
                    yield Event(change["type"], obj)
                if deadline is not None and time.monotonic() >= deadline:
                    return
        except (urllib3.exceptions.HTTPError, OSError):
            # stop() closes the answer under the reader; anything else is a real failure.
            if not stopper.stopped:
                raise
        finally:
            # Not release_conn(): a watch left mid-stream must not go back to the pool.
            response.close()


def wait_until_gone(call: ListCall, /, *, deadline: float | None = None, **selectors: str) -> bool:
    """Wait until no object matches `selectors`; False when `deadline` came first."""
    items, version = list_objects(call, **selectors)
    remaining = {str(item["metadata"]["uid"]) for item in items}
    if not remaining:
        return True
    for event in watch_from(call, version, deadline=deadline, stopper=None, **selectors):
        uid = str(event.object["metadata"]["uid"])
        if event.type == "DELETED":
            remaining.discard(uid)
            if not remaining:
                return True
        else:
            remaining.add(uid)
    return False
