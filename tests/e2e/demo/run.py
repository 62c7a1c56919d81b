"""The demo's sequence: each step announced, the cluster stopped at the end (also on
failure) unless asked to keep it."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path

from e2e.demo import cluster as local_cluster
from e2e.demo import data, model, operator_process, submit
from e2e.demo.console import detail, elapsed, step
from support.crd_install import install_crd
from support.operator_release import OperatorRelease
from testenv import procs
from testenv.localcluster import LocalClusterSettings
from testenv.paths import binary

NAMESPACE = "default"


@dataclass(frozen=True)
class DemoOptions:
    """directory: the local cluster's state, kubeconfig and logs; keep: leave it running;
    node_kind: `agent` (pods as processes, the operator a process under the chart's RBAC) or
    `containers` (real kubelets, the operator installed with helm as the chart's Deployment)."""

    directory: Path
    keep: bool = False
    node_kind: str = "agent"

    @property
    def containers(self) -> bool:
        return self.node_kind == "containers"


def run(options: DemoOptions) -> int:
    """Run the demo; 0 when the job succeeded and its exported model generated text."""
    nodes = (
        "2 real nodes (kubelet, containerd, runc) that run the images built from our Dockerfiles"
        if options.containers
        else "a node agent with 2 nodes that runs pods as processes"
    )
    step(1, f"starting the local cluster: etcd, kube-apiserver, controller-manager, scheduler, and {nodes}")
    cluster = local_cluster.start(LocalClusterSettings(directory=options.directory, node_kind=options.node_kind))
    if not cluster.started:
        detail(f"reusing the local cluster already running in {options.directory}")
    operator: operator_process.OperatorProcess | None = None
    try:
        operator = _install(cluster, options)
        _train(cluster)
        _show_model(cluster)
        print(
            f"\ndemo finished in {elapsed():.0f}s: a model trained on 2 nodes, checkpointed, exported and loaded.",
            flush=True,
        )
        return 0
    except Exception:  # noqa: BLE001 - the demo reports any failure and still cleans up
        traceback.print_exc()
        _report_failure(cluster, operator, options)
        return 1
    finally:
        _finish(cluster, operator, options)


def _install(cluster: local_cluster.Cluster, options: DemoOptions) -> operator_process.OperatorProcess | None:
    if options.containers:
        step(2, "installing the chart (CRD, RBAC, the operator Deployment) with helm upgrade --install --wait")
        release = OperatorRelease(cluster.kubeconfig)
        release.install()
        step(3, "the operator runs as the chart's Deployment: its image, non-root, a read-only root filesystem")
        detail(f"pod {OperatorRelease.NAMESPACE}/{release.pod()}")
        return None
    step(2, "installing the LLMTrainingJob CRD and the chart's ServiceAccount and RBAC (helm template)")
    install_crd(cluster.kubectl)
    for name in operator_process.install_rbac(cluster):
        detail(f"applied {name}")
    step(
        3,
        f"starting the operator (python -m llmtrain_operator) as ServiceAccount "
        f"{operator_process.OPERATOR_NAMESPACE}/{operator_process.SERVICE_ACCOUNT}",
    )
    operator = operator_process.start(cluster, keep=options.keep)
    detail(f"operator healthy, pid {operator.process.pid}, log {operator.log}")
    return operator


def _train(cluster: local_cluster.Cluster) -> None:
    step(4, "writing a tiny corpus and training a BPE tokenizer into the claim tiny-data (a one-off pod)")
    submit.delete_previous(cluster, NAMESPACE)
    data.reset_checkpoints(cluster, NAMESPACE)
    detail(data.prepare(cluster, NAMESPACE))
    step(
        5,
        "submitting manifests/examples/tiny-cpu.yaml with the llmtrain CLI: 2 nodes x 1 process, gloo, "
        "the test model preset",
    )
    code = submit.submit_and_wait(cluster, NAMESPACE)
    if code != 0:
        raise RuntimeError(f"llmtrain submit --wait exited with {code}")


def _show_model(cluster: local_cluster.Cluster) -> None:
    step(6, "the checkpoint and the exported Hugging Face model")
    trained = model.locate(cluster, NAMESPACE, submit.JOB_NAME)
    detail(
        f"checkpoint of step {trained.step}: {trained.checkpoint_in_pod} in the pods (claim {data.CHECKPOINT_CLAIM})"
    )
    detail(f"  on this machine: {trained.checkpoint_on_host}")
    detail(f"Hugging Face model: {trained.export_in_pod} in the pods")
    detail(f"  on this machine: {trained.export_on_host}")
    files = sorted(p.name for p in trained.export_on_host.iterdir())
    detail(f"  files: {', '.join(files)}")
    step(7, f"generating {model.NEW_TOKENS} tokens from the exported model with transformers")
    detail(f"prompt:     {model.PROMPT!r}")
    detail(f"generated:  {model.generate(trained.export_on_host)!r}")


def _report_failure(
    cluster: local_cluster.Cluster, operator: operator_process.OperatorProcess | None, options: DemoOptions
) -> None:
    print("\nthe demo failed; what the cluster says:", flush=True)
    for args in (("get", "llmtrainingjobs,pods", "-o", "wide"), ("describe", "llmtrainingjob", submit.JOB_NAME)):
        result = cluster.kubectl("-n", NAMESPACE, *args, check=False)
        detail(f"$ kubectl {' '.join(args)}\n{result.stdout}{result.stderr}")
    if operator is not None:
        detail(f"operator log (end):\n{procs.tail(operator.log, 40)}")
    elif options.containers:
        detail(f"operator log (end):\n{OperatorRelease(cluster.kubeconfig).log()}")


def _finish(
    cluster: local_cluster.Cluster, operator: operator_process.OperatorProcess | None, options: DemoOptions
) -> None:
    if options.keep:
        print("\nthe local cluster and the operator keep running (KEEP=1):", flush=True)
        detail(f"{binary('kubectl')} --kubeconfig={cluster.kubeconfig} get llmtrainingjobs,pods")
        detail(f"{Path('.venv/bin/llmtrain')} --kubeconfig={cluster.kubeconfig} list")
        detail("stop both with: make demo-down")
        return
    print("\nstopping the operator and the local cluster (make demo KEEP=1 leaves them running)", flush=True)
    if operator is not None:
        operator.stop()
    if cluster.started:
        local_cluster.stop(cluster)
    else:
        detail("the local cluster was running before the demo; it stays up (make cluster-down stops it)")
