"""Child manifests: spec in, manifests out, per the operator–pod contract of docs/design.md."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmtrain_operator import children
from llmtrain_operator.settings import OperatorSettings
from support.operator_objects import stored_job

SETTINGS = OperatorSettings(gpu_resource="example.com/gpu", default_image="llmtrain/trainer:test")


def _env(pod: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in pod["spec"]["containers"][0]["env"]}


def test_pod_carries_the_torchrun_contract() -> None:
    job = stored_job()
    pod = children.pod(job, rank=1, attempt=3, settings=SETTINGS)
    assert pod["metadata"]["name"] == "gpt-node-1"
    assert pod["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "llmtrain-operator",
        "llmtrain.dev/job-name": "gpt",
        "llmtrain.dev/node-rank": "1",
        "llmtrain.dev/attempt": "3",
    }
    assert pod["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    spec = pod["spec"]
    assert (spec["hostname"], spec["subdomain"], spec["restartPolicy"]) == ("gpt-node-1", "gpt", "Never")
    container = spec["containers"][0]
    assert container["image"] == "llmtrain/trainer:test"
    # torchrun through the launcher that exits with the failed worker's code and reports why.
    assert container["command"] == ["llmtrain-torchrun"]
    assert container["args"] == ["-m", "llmtrain_trainer", "--config", "/etc/llmtrain/config.json"]
    assert (container["terminationMessagePath"], container["terminationMessagePolicy"]) == (
        "/dev/termination-log",
        "FallbackToLogsOnError",
    )
    assert spec["terminationGracePeriodSeconds"] == 120
    env = _env(pod)
    assert env["PET_NNODES"] == "2" and env["PET_NPROC_PER_NODE"] == "8" and env["PET_NODE_RANK"] == "1"
    assert env["PET_MASTER_ADDR"] == "gpt-node-0.gpt.ml.svc" and env["PET_MASTER_PORT"] == "29500"
    # Each job has a directory of its own on a shared checkpoint volume, owned by its uid.
    assert env["LLMTRAIN_ATTEMPT"] == "3" and env["LLMTRAIN_CHECKPOINT_DIR"] == "/checkpoints/ml/gpt"
    assert env["LLMTRAIN_JOB_NAME"] == "gpt" and env["LLMTRAIN_METRICS_PORT"] == "9400"
    assert env["LLMTRAIN_JOB_NAMESPACE"] == "ml" and env["LLMTRAIN_JOB_UID"] == "uid-1"
    assert env["TORCH_ELASTIC_SHUTDOWN_TIMEOUT"] == "120"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["OMP_NUM_THREADS"] == "4", "32 CPUs shared by 8 processes"
    assert container["resources"]["limits"] == {"cpu": "32", "memory": "400Gi", "example.com/gpu": "8"}
    assert container["resources"]["requests"] == container["resources"]["limits"]


def test_shm_checkpoint_and_config_volumes() -> None:
    job = stored_job(
        {
            "nodes": 1,
            "shmSize": "64Gi",
            "trainer": {"model": {"preset": "test"}, "data": {"paths": ["/d"]}},
            "checkpoint": {"volume": {"persistentVolumeClaim": {"claimName": "ckpt"}}, "path": "/ckpt"},
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "tokens"}}],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        }
    )
    spec = children.pod(job, 0, 1, SETTINGS)["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["llmtrain-shm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "64Gi"}
    assert volumes["llmtrain-checkpoint"]["persistentVolumeClaim"] == {"claimName": "ckpt"}
    assert volumes["llmtrain-config"]["configMap"] == {"name": "gpt-config"}
    assert volumes["data"]["persistentVolumeClaim"] == {"claimName": "tokens"}
    mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    assert mounts == {
        "llmtrain-shm": "/dev/shm",
        "llmtrain-checkpoint": "/ckpt",
        "llmtrain-config": "/etc/llmtrain",
        "data": "/data",
    }


def test_custom_command_runs_under_torchrun_without_a_config() -> None:
    job = stored_job({"nodes": 2, "command": ["train.py", "--lr", "3e-4"], "image": "me/mine:1"})
    pod = children.pod(job, 0, 1, SETTINGS)
    container = pod["spec"]["containers"][0]
    assert container["args"] == ["train.py", "--lr", "3e-4"] and container["image"] == "me/mine:1"
    assert container["command"] == ["torchrun"], "the user's image need not have the llmtrain launcher"
    assert "llmtrain-config" not in {v["name"] for v in pod["spec"]["volumes"]}
    assert "resources" not in container or container["resources"] == {}


def test_user_settings_reach_the_pod() -> None:
    job = stored_job(
        {
            "nodes": 1,
            "command": ["x.py"],
            "env": [{"name": "NCCL_DEBUG", "value": "INFO"}],
            "scheduling": {
                "nodeSelector": {"pool": "h200"},
                "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                "priorityClassName": "training",
                "queueName": "team-a",
            },
            "pod": {
                "labels": {"team": "a"},
                "annotations": {"note": "x"},
                "serviceAccountName": "trainer",
                "securityContext": {"runAsUser": 1000},
                "imagePullSecrets": [{"name": "regcred"}],
            },
            "networking": {"hostNetwork": True, "masterPort": 23456},
        }
    )
    pod = children.pod(job, 0, 1, SETTINGS)
    spec = pod["spec"]
    assert spec["nodeSelector"] == {"pool": "h200"}
    assert spec["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert spec["priorityClassName"] == "training" and spec["serviceAccountName"] == "trainer"
    assert spec["securityContext"] == {"runAsUser": 1000} and spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert spec["hostNetwork"] is True and spec["dnsPolicy"] == "ClusterFirstWithHostNet"
    ports = {p["name"]: p for p in spec["containers"][0]["ports"]}
    assert ports["rendezvous"]["hostPort"] == 23456 and ports["metrics"]["hostPort"] == 9400
    assert _env(pod)["NCCL_DEBUG"] == "INFO" and _env(pod)["PET_MASTER_PORT"] == "23456"
    labels = pod["metadata"]["labels"]
    assert labels["team"] == "a" and labels["kueue.x-k8s.io/queue-name"] == "team-a"
    assert labels["kueue.x-k8s.io/pod-group-name"] == "gpt"
    assert pod["metadata"]["annotations"] == {"note": "x", "kueue.x-k8s.io/pod-group-total-count": "1"}


@pytest.mark.parametrize(
    ("resources", "procs", "env", "threads"),
    [
        ({"cpu": "500m"}, 2, [], "1"),
        ({"cpu": "7"}, 2, [], "3"),
        ({"cpu": "7"}, 2, [{"name": "OMP_NUM_THREADS", "value": "6"}], "6"),
        ({}, 2, [], None),
    ],
)
def test_threads_per_process_follow_the_cpus_of_the_pod(
    resources: dict[str, str], procs: int, env: list[dict[str, str]], threads: str | None
) -> None:
    job = stored_job({"nodes": 1, "procsPerNode": procs, "command": ["x.py"], "resources": resources, "env": env})
    variables = children.pod(job, 0, 1, SETTINGS)["spec"]["containers"][0]["env"]
    assert [v["value"] for v in variables if v["name"] == "OMP_NUM_THREADS"] == ([threads] if threads else [])


def test_user_labels_cannot_override_the_operators() -> None:
    job = stored_job({"nodes": 1, "command": ["x.py"], "pod": {"labels": {"llmtrain.dev/attempt": "99"}}})
    assert children.pod(job, 0, 4, SETTINGS)["metadata"]["labels"]["llmtrain.dev/attempt"] == "4"


def test_elastic_jobs_use_the_c10d_rendezvous() -> None:
    job = stored_job({"nodes": 3, "command": ["x.py"], "elastic": {"minNodes": 2, "maxNodes": 4, "maxRestarts": 5}})
    env = _env(children.pod(job, 2, 7, SETTINGS))
    assert env["PET_NNODES"] == "2:4" and env["PET_RDZV_BACKEND"] == "c10d"
    assert env["PET_RDZV_ENDPOINT"] == "gpt-node-0.gpt.ml.svc:29500"
    assert env["PET_RDZV_ID"] == "uid-1-7" and env["PET_MAX_RESTARTS"] == "5"
    assert env["TORCH_DISABLE_SHARE_RDZV_TCP_STORE"] == "1", (
        "a node joining a running gang needs MASTER_ADDR republished"
    )


def test_headless_service_resolves_unready_pods() -> None:
    service = children.headless_service(stored_job())
    assert service["metadata"]["name"] == "gpt"
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["selector"] == {
        "app.kubernetes.io/managed-by": "llmtrain-operator",
        "llmtrain.dev/job-name": "gpt",
    }


def test_config_map_spells_out_every_default() -> None:
    config = json.loads(children.config_map(stored_job())["data"]["config.json"])
    assert config["model"] == {"preset": "test", "pretrainedWeights": True}
    assert config["parallelism"]["strategy"] == "fsdp" and config["schedule"]["steps"] == 10000


@pytest.mark.parametrize(
    ("provider", "api_version", "scheduler"),
    [
        ("coscheduling", "scheduling.x-k8s.io/v1alpha1", "scheduler-plugins-scheduler"),
        ("volcano", "scheduling.volcano.sh/v1beta1", "volcano"),
    ],
)
def test_gang_scheduling_makes_a_pod_group(provider: str, api_version: str, scheduler: str) -> None:
    job = stored_job({"nodes": 4, "command": ["x.py"], "scheduling": {"gang": {"enabled": True, "provider": provider}}})
    group = children.pod_group(job)
    assert group is not None and group["apiVersion"] == api_version and group["spec"]["minMember"] == 4
    assert children.pod(job, 0, 1, SETTINGS)["spec"]["schedulerName"] == scheduler


def test_no_pod_group_without_gang_scheduling() -> None:
    assert children.pod_group(stored_job()) is None


def test_a_trainer_job_recovers_in_place_through_the_c10d_rendezvous() -> None:
    status = {"attempt": 2, "restarts": 1, "restartsInPlace": 1}
    spec = {"nodes": 2, "trainer": {"model": {"preset": "test"}, "data": {"paths": ["/d"]}}}
    env = _env(children.pod(stored_job({**spec, "runPolicy": {"backoffLimit": 5}}, status), 1, 2, SETTINGS))
    assert (env["PET_NNODES"], env["PET_RDZV_BACKEND"], env["PET_RDZV_ENDPOINT"]) == (
        "2",
        "c10d",
        "gpt-node-0.gpt.ml.svc:29500",
    )
    assert (env["PET_RDZV_ID"], env["PET_MAX_RESTARTS"], env["LLMTRAIN_RESTARTS_IN_PLACE"]) == ("uid-1-2", "3", "1")
    # The rendezvous ranks agents by address: pod 0's name sorts first, so global rank 0 runs there.
    assert env["PET_LOCAL_ADDR"] == "gpt-node-1.gpt.ml.svc"
    for run_policy in ({"recovery": "Gang"}, {"restartPolicy": "ExitCode"}):
        gang = _env(children.pod(stored_job({**spec, "runPolicy": run_policy}, status), 1, 2, SETTINGS))
        assert "PET_RDZV_BACKEND" not in gang and "LLMTRAIN_RESTARTS_IN_PLACE" not in gang, run_policy
        assert gang["PET_MASTER_ADDR"] == "gpt-node-0.gpt.ml.svc"
