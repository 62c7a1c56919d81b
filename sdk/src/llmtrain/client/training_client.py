"""`TrainingClient`: create, inspect, watch, wait for, read the logs of, and delete jobs.

A thin facade over the Kubernetes client in the manner of the Kubeflow SDK: every method
takes and returns the typed `LLMTrainingJob` (or small typed records), and every API
failure surfaces as one of `llmtrain.client.errors`.
"""

from __future__ import annotations

import builtins
import copy
import os
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from types import TracebackType

from kubernetes.client import CoreV1Api, CustomObjectsApi

from llmtrain.api.job import GROUP, PLURAL, VERSION, LLMTrainingJob
from llmtrain.api.names import pod_selector
from llmtrain.api.status import FINISHED_PHASES, LLMTrainingJobStatus
from llmtrain.client import config, logs
from llmtrain.client.errors import JobFailed, JobNotFound, WaitTimeout, translated
from llmtrain.client.events import JobEvent, list_events
from llmtrain.client.logs import LogLine
from llmtrain.client.watch import list_and_watch, list_objects, one_job, wait_until_gone

MERGE_PATCH = "application/merge-patch+json"


class TrainingClient:
    """LLMTrainingJobs of one cluster and namespace.

    The cluster comes from `kubeconfig` (else $KUBECONFIG, else ~/.kube/config) and
    `context`, or from the pod's service account when run inside the cluster; the
    namespace is `namespace`, else the context's, else the pod's, else "default".
    """

    def __init__(
        self, namespace: str | None = None, kubeconfig: str | os.PathLike[str] | None = None, context: str | None = None
    ) -> None:
        cluster = config.load(kubeconfig, context, namespace)
        self.namespace = cluster.namespace
        """The namespace every call goes to (create: unless the job names its own)."""
        self.server = cluster.server
        """The API server's address."""
        self._api_client = cluster.api_client
        self._custom = CustomObjectsApi(cluster.api_client)
        self._core = CoreV1Api(cluster.api_client)

    def __enter__(self) -> TrainingClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def in_namespace(self, namespace: str) -> TrainingClient:
        """A client of another namespace on the same connection."""
        other = copy.copy(self)
        other.namespace = namespace
        return other

    def close(self) -> None:
        """Release the connection pool."""
        self._api_client.close()  # type: ignore[no-untyped-call]

    def create(self, job: LLMTrainingJob) -> LLMTrainingJob:
        """Submit `job`; the API server's validation errors raise JobRejected naming each field."""
        namespace = job.metadata.namespace or self.namespace
        body = job.to_wire()
        body["metadata"]["namespace"] = namespace
        with translated(self.server, namespace, sent=body):
            created = self._custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
        return LLMTrainingJob.from_dict(created)

    def get(self, name: str) -> LLMTrainingJob:
        """The job as the API server has it now, status included."""
        with translated(self.server, self.namespace, job=name):
            found = self._custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)
        return LLMTrainingJob.from_dict(found)

    def list(
        self, selector: str | Mapping[str, str] | None = None, *, all_namespaces: bool = False
    ) -> list[LLMTrainingJob]:
        """Jobs of the namespace (or of every namespace) whose labels match `selector`, by name."""
        selectors = {"label_selector": _label_selector(selector)} if selector else {}
        with translated(self.server, self.namespace):
            if all_namespaces:
                items, _ = list_objects(
                    self._custom.list_custom_object_for_all_namespaces,
                    group=GROUP,
                    version=VERSION,
                    resource_plural=PLURAL,
                    **selectors,
                )
            else:
                items, _ = list_objects(
                    self._custom.list_namespaced_custom_object,
                    group=GROUP,
                    version=VERSION,
                    namespace=self.namespace,
                    plural=PLURAL,
                    **selectors,
                )
        jobs = [LLMTrainingJob.from_dict(item) for item in items]
        return sorted(jobs, key=lambda job: (job.metadata.namespace or "", job.metadata.name))

    def delete(self, name: str, *, wait: bool = False, timeout: float | None = None) -> None:
        """Delete the job and, through owner references, its pods, Service and ConfigMap.

        With `wait`, return only once the job and every one of its pods are gone.
        """
        deadline = _deadline(timeout)
        with translated(self.server, self.namespace, job=name):
            self._custom.delete_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name, propagation_policy="Foreground"
            )
            if not wait:
                return
            gone = wait_until_gone(
                self._custom.list_namespaced_custom_object, deadline=deadline, **one_job(self.namespace, name)
            ) and wait_until_gone(
                self._core.list_namespaced_pod,
                deadline=deadline,
                namespace=self.namespace,
                label_selector=pod_selector(name),
            )
        if not gone:
            raise WaitTimeout(
                f"Job {name} or its pods still exist after {timeout:g}s.",
                "Look at `kubectl get pods` for pods stuck terminating.",
            )

    def suspend(self, name: str) -> LLMTrainingJob:
        """Stop the job's pods and keep the job (runPolicy.suspend = true)."""
        return self._set_suspend(name, True)

    def resume(self, name: str) -> LLMTrainingJob:
        """Start a suspended job again; the new attempt resumes from the latest checkpoint."""
        return self._set_suspend(name, False)

    def _set_suspend(self, name: str, suspend: bool) -> LLMTrainingJob:
        patch = {"spec": {"runPolicy": {"suspend": suspend}}}
        with translated(self.server, self.namespace, job=name):
            patched = self._custom.patch_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name, patch, _content_type=MERGE_PATCH
            )
        return LLMTrainingJob.from_dict(patched)

    def watch(self, name: str, *, timeout: float | None = None) -> Iterator[LLMTrainingJob]:
        """The job now and at every change of its status, until it has finished or `timeout` seconds passed."""
        self.get(name)
        deadline = _deadline(timeout)
        last: LLMTrainingJobStatus | None = None
        with translated(self.server, self.namespace, job=name):
            for event in list_and_watch(
                self._custom.list_namespaced_custom_object, deadline=deadline, **one_job(self.namespace, name)
            ):
                if event.type == "DELETED":
                    raise JobNotFound(f'Job "{name}" was deleted.', "")
                job = LLMTrainingJob.from_dict(event.object)
                if last is not None and job.status == last:
                    continue
                last = job.status
                yield job
                if _phase(job) in FINISHED_PHASES:
                    return

    def wait(
        self,
        name: str,
        *,
        until: Collection[str] = FINISHED_PHASES,
        timeout: float | None = None,
        raise_on_failure: bool = True,
        callback: Callable[[LLMTrainingJob], None] | None = None,
    ) -> LLMTrainingJob:
        """Block until the job's phase is one of `until` or the job has finished; return it then.

        Raises JobFailed (carrying status.failure) when the job fails, unless
        `raise_on_failure` is false, and WaitTimeout after `timeout` seconds. `callback`
        is called with the job at every change of its status (e.g. to show progress).
        """
        phase = None
        for job in self.watch(name, timeout=timeout):
            if callback is not None:
                callback(job)
            phase = _phase(job)
            if phase == "Failed" and raise_on_failure:
                raise JobFailed(name, job.status.failure if job.status else None)
            if phase in until or phase in FINISHED_PHASES:
                return job
        raise WaitTimeout(
            f"Job {name} did not reach {' or '.join(sorted(until))} within {timeout:g}s "
            f"(phase: {phase or 'none yet'}).",
            f"See `llmtrain describe {name}`.",
        )

    def logs(self, name: str, *, rank: int | None = None, follow: bool = False) -> Iterator[LogLine]:
        """Lines of every rank (or of `rank`); `str(line)` prefixes the rank.

        With `follow`, lines come as they are written, across gang restarts, until the
        job has finished; without it, what the current pods have written so far.
        """
        self.get(name)
        with translated(self.server, self.namespace, job=name):
            if follow:
                yield from logs.follow(self._core, self._custom, self.namespace, name, rank)
            else:
                yield from logs.read(self._core, self.namespace, name, rank)

    def events(self, name: str) -> builtins.list[JobEvent]:
        """Kubernetes Events of the job and its pods, oldest first."""
        with translated(self.server, self.namespace, job=name):
            return list_events(self._core, self.namespace, name)


def _phase(job: LLMTrainingJob) -> str | None:
    return job.status.phase if job.status else None


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _label_selector(selector: str | Mapping[str, str]) -> str:
    if isinstance(selector, str):
        return selector
    return ",".join(f"{key}={value}" for key, value in selector.items())
