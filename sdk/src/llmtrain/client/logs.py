"""The output of a job's ranks, read once or followed across gang restarts.

Pods are `<job>-node-<rank>`, labelled with their node rank and attempt. A gang restart
deletes every pod and creates new ones with the same names, so following a job means
watching its pods and opening a log stream for each new pod (a new uid) as soon as its
container has started, until the job has finished and every stream has ended.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import urllib3.exceptions
from kubernetes.client import CoreV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from llmtrain.api import names
from llmtrain.api.status import FINISHED_PHASES
from llmtrain.client.stream import lines, raw
from llmtrain.client.watch import Event, Stopper, list_and_watch, list_objects, one_job


@dataclass(frozen=True)
class LogLine:
    """One line a rank wrote; `str()` gives it prefixed with the rank."""

    rank: int
    attempt: int
    pod: str
    text: str

    def __str__(self) -> str:
        return f"[rank {self.rank}] {self.text}"


@dataclass(frozen=True)
class _Pod:
    name: str
    uid: str
    rank: int
    attempt: int
    started: bool

    @classmethod
    def of(cls, pod: dict[str, Any]) -> _Pod:
        labels = pod["metadata"].get("labels") or {}
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        state = (statuses[0].get("state") or {}) if statuses else {}
        return cls(
            name=pod["metadata"]["name"],
            uid=pod["metadata"]["uid"],
            rank=int(labels.get(names.NODE_RANK, 0)),
            attempt=int(labels.get(names.ATTEMPT, 0)),
            started="running" in state or "terminated" in state,
        )


def read(core: CoreV1Api, namespace: str, job: str, rank: int | None) -> Iterator[LogLine]:
    """The logs of the current pods so far, rank by rank."""
    items, _ = list_objects(core.list_namespaced_pod, namespace=namespace, label_selector=names.pod_selector(job, rank))
    for pod in sorted((_Pod.of(item) for item in items), key=lambda p: p.rank):
        if not pod.started:
            continue
        response = raw(core.read_namespaced_pod_log(pod.name, namespace, _preload_content=False))
        try:
            for text in lines(response):
                yield LogLine(pod.rank, pod.attempt, pod.name, text)
        finally:
            response.close()


STOP_JOIN_SECONDS = 5.0
"""How long a finished follow waits for each reader thread it stopped."""


@dataclass
class _Follower:
    core: CoreV1Api
    custom: CustomObjectsApi
    namespace: str
    job: str
    rank: int | None
    inbox: queue.Queue[tuple[str, Any]] = field(default_factory=queue.Queue)
    stoppers: list[Stopper] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    streamed: set[str] = field(default_factory=set)
    active: set[str] = field(default_factory=set)

    def run(self) -> Iterator[LogLine]:
        self._thread(self._watch_pods)
        self._thread(self._watch_job)
        finished = False
        try:
            while not (finished and not self.active):
                kind, value = self.inbox.get()
                if kind == "line":
                    yield value
                elif kind == "end":
                    self.active.discard(value)
                elif kind == "pod":
                    self._maybe_stream(_Pod.of(value))
                elif kind == "finished":
                    finished = True
                    # Pods that ran and ended between two watch events are only visible now.
                    items, _ = list_objects(
                        self.core.list_namespaced_pod,
                        namespace=self.namespace,
                        label_selector=names.pod_selector(self.job, self.rank),
                    )
                    for item in items:
                        self._maybe_stream(_Pod.of(item))
                elif kind == "error":
                    raise value
        finally:
            for stopper in self.stoppers:
                stopper.stop()
            # Stopped readers return at once; waiting for them keeps a daemon thread from
            # holding stderr's lock (a library's warning) while the interpreter exits, which
            # aborts the process (SIGABRT) after every line was printed.
            for thread in self.threads:
                thread.join(timeout=STOP_JOIN_SECONDS)

    def _thread(self, target: Callable[[Stopper], None]) -> None:
        stopper = Stopper()
        self.stoppers.append(stopper)

        def guarded() -> None:
            try:
                target(stopper)
            except Exception as error:  # noqa: BLE001 - any failure of a stream reaches the reader, re-raised there
                if not stopper.stopped:
                    self.inbox.put(("error", error))

        thread = threading.Thread(target=guarded, daemon=True, name=f"llmtrain-logs-{self.job}")
        self.threads.append(thread)
        thread.start()

    def _maybe_stream(self, pod: _Pod) -> None:
        if not pod.started or pod.uid in self.streamed:
            return
        self.streamed.add(pod.uid)
        self.active.add(pod.uid)
        self._thread(lambda stopper: self._stream(pod, stopper))

    def _stream(self, pod: _Pod, stopper: Stopper) -> None:
        try:
            response = raw(
                self.core.read_namespaced_pod_log(pod.name, self.namespace, follow=True, _preload_content=False)
            )
        except ApiException as error:
            # The pod went away (a gang restart) before its log could be opened.
            if error.status not in (400, 404):
                raise
        else:
            stopper.attach(response)
            try:
                for text in lines(response):
                    self.inbox.put(("line", LogLine(pod.rank, pod.attempt, pod.name, text)))
            except (urllib3.exceptions.HTTPError, OSError):
                # A stream cut off (the pod deleted by a gang restart, or stop()) ends
                # that pod's log, not the follow.
                pass
            finally:
                response.close()
        finally:
            self.inbox.put(("end", pod.uid))

    def _watch_pods(self, stopper: Stopper) -> None:
        for event in list_and_watch(
            self.core.list_namespaced_pod,
            stopper=stopper,
            namespace=self.namespace,
            label_selector=names.pod_selector(self.job, self.rank),
        ):
            if event.type != "DELETED":
                self.inbox.put(("pod", event.object))

    def _watch_job(self, stopper: Stopper) -> None:
        for event in list_and_watch(
            self.custom.list_namespaced_custom_object, stopper=stopper, **one_job(self.namespace, self.job)
        ):
            if _finished(event):
                self.inbox.put(("finished", None))
                return


def _finished(event: Event) -> bool:
    phase = (event.object.get("status") or {}).get("phase")
    return event.type == "DELETED" or phase in FINISHED_PHASES


def follow(core: CoreV1Api, custom: CustomObjectsApi, namespace: str, job: str, rank: int | None) -> Iterator[LogLine]:
    """Every line of every attempt's pods as it is written, until the job has finished."""
    return _Follower(core, custom, namespace, job, rank).run()
