"""The objects a job owns, computed from its spec alone: spec in, manifests out.

Nothing here talks to the API server, so every manifest can be checked in a unit test.
"""

from __future__ import annotations

import json
import math
from typing import Any

from llmtrain.api import names
from llmtrain.api.contract import (
    ENV_ATTEMPT,
    ENV_CHECKPOINT_DIR,
    ENV_HANG_TIMEOUT,
    ENV_JOB_NAME,
    ENV_JOB_NAMESPACE,
    ENV_JOB_UID,
    ENV_METRICS_PORT,
    ENV_RESTARTS_IN_PLACE,
    TERMINATION_LOG,
    job_checkpoint_dir,
)
from llmtrain.api.job import API_VERSION, KIND, LLMTrainingJob
from llmtrain.api.quantity import quantity_value
from llmtrain.api.spec import LLMTrainingJobSpec
from llmtrain_operator.settings import OperatorSettings

Manifest = dict[str, Any]

TRAINER_LAUNCHER = "llmtrain-torchrun"
"""torchrun that exits with the failed worker's own code and reports why (llmtrain_trainer.launch)."""
TORCHRUN = "torchrun"
TRAINER_ARGS = ["-m", "llmtrain_trainer", "--config", names.CONFIG_PATH]
COSCHEDULING_SCHEDULER = "scheduler-plugins-scheduler"
VOLCANO_SCHEDULER = "volcano"
COSCHEDULING_POD_GROUP_LABEL = "scheduling.x-k8s.io/pod-group"
VOLCANO_POD_GROUP_ANNOTATION = "scheduling.k8s.io/group-name"
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
KUEUE_POD_GROUP_LABEL = "kueue.x-k8s.io/pod-group-name"
KUEUE_POD_GROUP_COUNT = "kueue.x-k8s.io/pod-group-total-count"
POD_GROUP_APIS = {
    "coscheduling": ("scheduling.x-k8s.io", "v1alpha1", "podgroups"),
    "volcano": ("scheduling.volcano.sh", "v1beta1", "podgroups"),
}


def _name(job: LLMTrainingJob) -> str:
    return job.metadata.name


def _namespace(job: LLMTrainingJob) -> str:
    return job.metadata.namespace or "default"


def owner_reference(job: LLMTrainingJob) -> Manifest:
    """Makes a child garbage-collected with its job."""
    if job.metadata.uid is None:
        raise ValueError(f"job {_name(job)} has no uid yet; children need the stored object")
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": _name(job),
        "uid": job.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _metadata(job: LLMTrainingJob, name: str, labels: dict[str, str] | None = None) -> Manifest:
    return {
        "name": name,
        "namespace": _namespace(job),
        "labels": labels or names.job_labels(_name(job)),
        "ownerReferences": [owner_reference(job)],
    }


def headless_service(job: LLMTrainingJob) -> Manifest:
    """`<job>`: gives every pod the DNS name <pod>.<job>.<namespace>.svc, ready or not."""
    port = job.spec.networking.master_port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(job, names.service_name(_name(job))),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": names.job_labels(_name(job)),
            "ports": [{"name": "rendezvous", "port": port, "targetPort": port, "protocol": "TCP"}],
        },
    }


def trainer_config_json(spec: LLMTrainingJobSpec) -> str:
    """spec.trainer with every default spelled out: what the trainer acts on."""
    if spec.trainer is None:
        raise ValueError("only jobs with spec.trainer have a trainer configuration")
    return json.dumps(spec.trainer.to_wire(defaults=True), indent=2, sort_keys=True)


def config_map(job: LLMTrainingJob) -> Manifest:
    """`<job>-config` with config.json, mounted at /etc/llmtrain."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(job, names.config_map_name(_name(job))),
        "data": {names.CONFIG_FILE: trainer_config_json(job.spec)},
    }


def pod_group(job: LLMTrainingJob) -> Manifest | None:
    """The PodGroup that makes the gang schedule all at once, when gang scheduling is on."""
    scheduling = job.spec.scheduling
    if scheduling is None or scheduling.gang is None or not scheduling.gang.enabled:
        return None
    group, version, _ = POD_GROUP_APIS[scheduling.gang.provider]
    spec: Manifest = {"minMember": job.spec.elastic.min_nodes if job.spec.elastic else job.spec.nodes}
    if scheduling.gang.provider == "coscheduling":
        spec["scheduleTimeoutSeconds"] = scheduling.gang.timeout_seconds
    elif scheduling.queue_name:
        spec["queue"] = scheduling.queue_name
    return {
        "apiVersion": f"{group}/{version}",
        "kind": "PodGroup",
        "metadata": _metadata(job, _name(job)),
        "spec": spec,
    }


def _env(job: LLMTrainingJob, rank: int, attempt: int, settings: OperatorSettings) -> list[Manifest]:
    spec = job.spec
    name, namespace = _name(job), _namespace(job)
    master = names.master_address(name, namespace)
    port = spec.networking.master_port
    env: list[Manifest] = [
        {"name": "PET_NPROC_PER_NODE", "value": str(spec.effective_procs_per_node)},
        {"name": "PET_NODE_RANK", "value": str(rank)},
        {"name": "PET_MASTER_ADDR", "value": master},
        {"name": "PET_MASTER_PORT", "value": str(port)},
    ]
    if spec.elastic is None and not spec.recovers_in_place:
        env.insert(0, {"name": "PET_NNODES", "value": str(spec.nodes)})
    else:
        # The c10d rendezvous lets the agents form the gang again without new pods: on a
        # membership change (elastic) or after a failed training process (recovery InPlace).
        if spec.elastic is not None:
            nnodes, max_restarts = f"{spec.elastic.min_nodes}:{spec.elastic.max_nodes}", spec.elastic.max_restarts
        else:
            nnodes, max_restarts = str(spec.nodes), _restarts_left(job)
        env[:0] = [
            {"name": "PET_NNODES", "value": nnodes},
            {"name": "PET_RDZV_BACKEND", "value": "c10d"},
            {"name": "PET_RDZV_ENDPOINT", "value": f"{master}:{port}"},
            {"name": "PET_RDZV_ID", "value": f"{job.metadata.uid}-{attempt}"},
            {"name": "PET_MAX_RESTARTS", "value": str(max_restarts)},
            # The rendezvous ranks the agents by this address, and rank 0's agent hands it to
            # every worker as MASTER_ADDR: the pod's DNS name, which every pod resolves (its
            # hostname may resolve only inside the pod) and by which node 0 sorts first, so
            # that global rank 0, whose metrics the operator reads, runs in pod 0.
            {"name": "PET_LOCAL_ADDR", "value": names.pod_address(name, namespace, rank)},
            # With the agents' shared TCPStore, a node that joins a running gang waits for
            # rank 0 to publish MASTER_ADDR again, which it never does (seen with torch 2.13):
            # the join times out after 60 s. Without sharing, every round publishes it.
            {"name": "TORCH_DISABLE_SHARE_RDZV_TCP_STORE", "value": "1"},
        ]
        if spec.recovers_in_place:
            restarts = job.status.restarts_in_place if job.status is not None else 0
            env.append({"name": ENV_RESTARTS_IN_PLACE, "value": str(restarts)})
    if spec.hang_timeout is not None:
        env.append({"name": ENV_HANG_TIMEOUT, "value": str(spec.hang_timeout)})
    env += [
        {"name": ENV_JOB_NAME, "value": name},
        {"name": ENV_JOB_NAMESPACE, "value": namespace},
        {"name": ENV_JOB_UID, "value": str(job.metadata.uid)},
        {"name": ENV_ATTEMPT, "value": str(attempt)},
        {"name": ENV_CHECKPOINT_DIR, "value": job_checkpoint_dir(spec.checkpoint.path, namespace, name)},
        {"name": ENV_METRICS_PORT, "value": str(settings.trainer_metrics_port)},
        # torchrun's wait between SIGTERM and SIGKILL for its workers (torch >= 2.11; 30 s before),
        # so the trainer's checkpoint on SIGTERM gets the pod's whole grace period.
        {"name": "TORCH_ELASTIC_SHUTDOWN_TIMEOUT", "value": str(spec.run_policy.termination_grace_period_seconds)},
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
    ]
    user_env = [var.model_dump(mode="json", by_alias=True, exclude_none=True) for var in spec.env or ()]
    threads = _threads_per_process(spec)
    if threads is not None and not any(var["name"] == "OMP_NUM_THREADS" for var in user_env):
        env.append({"name": "OMP_NUM_THREADS", "value": str(threads)})
    return env + user_env


def _restarts_left(job: LLMTrainingJob) -> int:
    """What backoffLimit leaves for restarts in place; the operator also counts them all."""
    used = (job.status.restarts + job.status.restarts_in_place) if job.status is not None else 0
    return max(0, job.spec.run_policy.backoff_limit - used)


def _threads_per_process(spec: LLMTrainingJobSpec) -> int | None:
    """CPU threads per training process when the pod's CPUs are bounded: torch otherwise
    starts a thread per core of the whole machine in every process, which a CPU limit
    throttles and several processes on one node oversubscribe."""
    if spec.resources.cpu is None:
        return None
    return max(1, math.floor(quantity_value(spec.resources.cpu) / spec.effective_procs_per_node))


def _resources(spec: LLMTrainingJobSpec, settings: OperatorSettings) -> Manifest:
    amounts: dict[str, str] = {}
    if spec.resources.cpu is not None:
        amounts["cpu"] = spec.resources.cpu
    if spec.resources.memory is not None:
        amounts["memory"] = spec.resources.memory
    if spec.resources.gpus:
        amounts[settings.gpu_resource] = str(spec.resources.gpus)
    amounts.update(spec.resources.extra or {})
    return {"requests": dict(amounts), "limits": dict(amounts)} if amounts else {}


def _volumes(job: LLMTrainingJob) -> tuple[list[Manifest], list[Manifest]]:
    spec = job.spec
    shm: Manifest = {"medium": "Memory"}
    if spec.shm_size is not None:
        shm["sizeLimit"] = spec.shm_size
    checkpoint_source: Manifest = {"emptyDir": {}}
    if spec.checkpoint.volume is not None:
        checkpoint_source = spec.checkpoint.volume.model_dump(mode="json", by_alias=True, exclude_none=True)
        checkpoint_source.pop("name", None)
    volumes = [
        {"name": names.SHM_VOLUME, "emptyDir": shm},
        {"name": names.CHECKPOINT_VOLUME, **checkpoint_source},
    ]
    mounts: list[Manifest] = [
        {"name": names.SHM_VOLUME, "mountPath": "/dev/shm"},
        {"name": names.CHECKPOINT_VOLUME, "mountPath": spec.checkpoint.path},
    ]
    if spec.trainer is not None:
        volumes.append({"name": names.CONFIG_VOLUME, "configMap": {"name": names.config_map_name(_name(job))}})
        mounts.append({"name": names.CONFIG_VOLUME, "mountPath": names.CONFIG_MOUNT_DIR, "readOnly": True})
    volumes += [v.model_dump(mode="json", by_alias=True, exclude_none=True) for v in spec.volumes or ()]
    mounts += [m.model_dump(mode="json", by_alias=True, exclude_none=True) for m in spec.volume_mounts or ()]
    return volumes, mounts


def _ports(spec: LLMTrainingJobSpec, settings: OperatorSettings) -> list[Manifest]:
    ports: list[Manifest] = [
        {"name": "rendezvous", "containerPort": spec.networking.master_port, "protocol": "TCP"},
        {"name": "metrics", "containerPort": settings.trainer_metrics_port, "protocol": "TCP"},
    ]
    if spec.networking.host_network:
        # Declared host ports let the scheduler keep two jobs' ranks off one node's ports.
        for port in ports:
            port["hostPort"] = port["containerPort"]
    return ports


def _scheduling_fields(job: LLMTrainingJob, labels: dict[str, str], annotations: dict[str, str]) -> Manifest:
    scheduling = job.spec.scheduling
    fields: Manifest = {}
    if scheduling is None:
        return fields
    if scheduling.node_selector:
        fields["nodeSelector"] = dict(scheduling.node_selector)
    if scheduling.tolerations:
        fields["tolerations"] = [
            t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in scheduling.tolerations
        ]
    if scheduling.affinity is not None:
        fields["affinity"] = scheduling.affinity.model_dump(mode="json", by_alias=True, exclude_none=True)
    if scheduling.priority_class_name:
        fields["priorityClassName"] = scheduling.priority_class_name
    if scheduling.scheduler_name:
        fields["schedulerName"] = scheduling.scheduler_name
    gang = scheduling.gang
    if gang is not None and gang.enabled:
        if gang.provider == "coscheduling":
            labels[COSCHEDULING_POD_GROUP_LABEL] = _name(job)
            fields.setdefault("schedulerName", COSCHEDULING_SCHEDULER)
        else:
            annotations[VOLCANO_POD_GROUP_ANNOTATION] = _name(job)
            fields.setdefault("schedulerName", VOLCANO_SCHEDULER)
    if scheduling.queue_name:
        labels[KUEUE_QUEUE_LABEL] = scheduling.queue_name
        labels[KUEUE_POD_GROUP_LABEL] = _name(job)
        annotations[KUEUE_POD_GROUP_COUNT] = str(job.spec.nodes)
    return fields


def pod(job: LLMTrainingJob, rank: int, attempt: int, settings: OperatorSettings) -> Manifest:
    """`<job>-node-<rank>` of one attempt: torchrun with the PET_* and LLMTRAIN_* contract."""
    spec = job.spec
    overrides = spec.pod
    name = names.pod_name(_name(job), rank)
    labels = {
        **(overrides.labels if overrides and overrides.labels else {}),
        **names.pod_labels(_name(job), rank, attempt),
    }
    annotations = dict(overrides.annotations) if overrides and overrides.annotations else {}
    volumes, mounts = _volumes(job)
    container: Manifest = {
        "name": names.TRAINER_CONTAINER,
        "image": spec.image or settings.default_image,
        "command": [TRAINER_LAUNCHER if spec.trainer is not None else TORCHRUN],
        "args": TRAINER_ARGS if spec.trainer is not None else list(spec.command or ()),
        "env": _env(job, rank, attempt, settings),
        "ports": _ports(spec, settings),
        "resources": _resources(spec, settings),
        "volumeMounts": mounts,
        # The trainer's report, or the tail of a custom command's log, becomes status.failure.message.
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if overrides and overrides.image_pull_policy:
        container["imagePullPolicy"] = overrides.image_pull_policy
    if overrides and overrides.container_security_context is not None:
        container["securityContext"] = overrides.container_security_context.model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
    pod_spec: Manifest = {
        "hostname": name,
        "subdomain": names.service_name(_name(job)),
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": spec.run_policy.termination_grace_period_seconds,
        "enableServiceLinks": False,
        "containers": [container],
        "volumes": volumes,
        **_scheduling_fields(job, labels, annotations),
    }
    if spec.networking.host_network:
        pod_spec["hostNetwork"] = True
        pod_spec["dnsPolicy"] = "ClusterFirstWithHostNet"
    if overrides:
        if overrides.service_account_name:
            pod_spec["serviceAccountName"] = overrides.service_account_name
        if overrides.security_context is not None:
            pod_spec["securityContext"] = overrides.security_context.model_dump(
                mode="json", by_alias=True, exclude_none=True
            )
        if overrides.image_pull_secrets:
            pod_spec["imagePullSecrets"] = [
                s.model_dump(mode="json", by_alias=True, exclude_none=True) for s in overrides.image_pull_secrets
            ]
    metadata = _metadata(job, name, labels)
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}
