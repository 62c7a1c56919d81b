"""The local cluster: the control plane and its nodes kept running in the background, with
an admin kubeconfig at a known path, for `make demo` and for trying things with kubectl.

Two kinds of nodes: `agent` (the node agent runs pods as local processes; starts in seconds)
and `containers` (real kubelets on containerd running the images built from our
Dockerfiles, in a network namespace of the cluster's own; see testenv.containers).

`up` starts a detached supervisor process (`serve`) and returns once the cluster is
ready; `down` signals the supervisor, which stops the agent (and its pods) and the control
plane. Everything lives under one directory, `.localcluster/` in the repository by default.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from testenv import procs
from testenv.agentconfig import NodeAgentSettings, NodeSpec
from testenv.containers.cluster import ContainerCluster, ContainerClusterSettings, check_host
from testenv.controlplane import ControlPlane, ControlPlaneSettings
from testenv.images import build_images
from testenv.netutil import wait_until
from testenv.nodeagent import NodeAgent
from testenv.paths import REPO_ROOT, binary

DEFAULT_DIR = REPO_ROOT / ".localcluster"
NODE_KINDS = ("agent", "containers")


@dataclass
class LocalClusterSettings:
    """What `up` starts.

    directory: holds kubeconfig, the supervisor's pid and log, and the cluster state.
    node_kind: `agent` (pods as local processes) or `containers` (real kubelets).
    nodes, gpus, cpu, memory: the Nodes the agent registers (`local-node-<i>`); real nodes
        (`node-<i>`) report what this machine has and no GPUs.
    pod_ip_prefix: pod addresses of the agent; differs from the test fixtures' so both can
        run at once.
    """

    directory: Path = DEFAULT_DIR
    node_kind: str = "agent"
    nodes: int = 2
    gpus: int = 8
    cpu: str = "32"
    memory: str = "256Gi"
    pod_ip_prefix: str = "127.1"

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def pid_file(self) -> Path:
        return self.directory / "supervisor.pid"

    @property
    def log(self) -> Path:
        return self.directory / "cluster.log"

    @property
    def ready_file(self) -> Path:
        return self.directory / "ready"


def running_pid(settings: LocalClusterSettings) -> int | None:
    """The supervisor's pid if it is alive."""
    try:
        pid = int(settings.pid_file.read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    try:
        # A supervisor this process started stays a zombie, alive to kill(0), until reaped.
        reaped, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return pid
    return None if reaped == pid else pid


# Real nodes import the images into containerd before they register: minutes, not seconds.
START_TIMEOUTS = {"agent": 120.0, "containers": 900.0}


def up(settings: LocalClusterSettings) -> int:
    timeout = START_TIMEOUTS[settings.node_kind]
    if running_pid(settings) is not None and settings.ready_file.exists():
        print(f"local cluster already running; export KUBECONFIG={settings.kubeconfig}")
        return 0
    for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"):
        binary(name)
    if settings.node_kind == "containers":
        check_host()
        # Built here, in the foreground, so that their progress shows.
        build_images()
    shutil.rmtree(settings.directory, ignore_errors=True)
    settings.directory.mkdir(parents=True)
    argv = [
        sys.executable, "-m", "testenv", "serve", f"--dir={settings.directory}", f"--node-kind={settings.node_kind}",
        f"--nodes={settings.nodes}",
        f"--gpus={settings.gpus}", f"--cpu={settings.cpu}", f"--memory={settings.memory}",
        f"--pod-ip-prefix={settings.pod_ip_prefix}",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "tests")}
    print(f">> starting the local cluster in the background (log: {settings.log})")
    supervisor = procs.spawn(argv, settings.log, env=env, die_with_parent=False)
    settings.pid_file.write_text(str(supervisor.pid))
    began = time.monotonic()

    def ready() -> bool:
        if supervisor.poll() is not None:
            raise RuntimeError(f"the local cluster failed to start:\n{procs.tail(settings.log)}")
        return settings.ready_file.exists()

    wait_until(ready, timeout, "the local cluster", interval=0.2)
    print(f">> local cluster up in {time.monotonic() - began:.1f}s with {settings.nodes} nodes ({settings.node_kind})")
    print(f"   export KUBECONFIG={settings.kubeconfig}")
    print(f"   {binary('kubectl')} get nodes")
    return 0


def down(settings: LocalClusterSettings, timeout: float = 90) -> int:
    pid = running_pid(settings)
    if pid is None:
        print("local cluster is not running")
        return 0
    print(f">> stopping the local cluster (supervisor pid {pid})")
    os.kill(pid, signal.SIGTERM)
    try:
        wait_until(lambda: running_pid(settings) is None, timeout, "the local cluster to stop", interval=0.2)
    except TimeoutError:
        os.killpg(pid, signal.SIGKILL)
    settings.pid_file.unlink(missing_ok=True)
    print(">> local cluster stopped")
    return 0


def status(settings: LocalClusterSettings) -> int:
    pid = running_pid(settings)
    if pid is None or not settings.ready_file.exists():
        print("local cluster is not running")
        return 1
    print(f"local cluster running (supervisor pid {pid}); export KUBECONFIG={settings.kubeconfig}")
    nodes = subprocess.run([binary("kubectl"), f"--kubeconfig={settings.kubeconfig}", "get", "nodes"], check=False)
    return nodes.returncode


def serve(settings: LocalClusterSettings) -> None:
    """The supervisor: run the cluster until SIGTERM or SIGINT."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if settings.node_kind == "containers":
        _serve_containers(settings, stop)
        return
    cluster = ControlPlane(ControlPlaneSettings(workdir=settings.directory / "state"))
    agent: NodeAgent | None = None
    try:
        cluster.start()
        print(f"control plane up in {cluster.startup_seconds:.1f}s at {cluster.server}", flush=True)
        nodes = [
            NodeSpec(f"local-node-{i}", cpu=settings.cpu, memory=settings.memory, gpus=settings.gpus)
            for i in range(settings.nodes)
        ]
        agent = NodeAgent(cluster, nodes, settings=NodeAgentSettings(pod_ip_prefix=settings.pod_ip_prefix))
        agent.start()
        shutil.copy(cluster.kubeconfig_path, settings.kubeconfig)
        settings.ready_file.write_text(cluster.server + "\n")
        print(f"local cluster ready; logs in {cluster.workdir / 'logs'}", flush=True)
        stop.wait()
    finally:
        settings.ready_file.unlink(missing_ok=True)
        if agent is not None:
            agent.stop()
        cluster.stop()
        print("local cluster stopped", flush=True)


def _serve_containers(settings: LocalClusterSettings, stop: threading.Event) -> None:
    cluster = ContainerCluster(
        ContainerClusterSettings(images=build_images(), nodes=settings.nodes, workdir=settings.directory / "state")
    )
    try:
        cluster.start()
        print(f"cluster with {settings.nodes} real nodes up in {cluster.startup_seconds:.1f}s", flush=True)
        shutil.copy(cluster.kubeconfig_path, settings.kubeconfig)
        settings.ready_file.write_text(cluster.cp.server + "\n")
        print(f"local cluster ready; logs under {cluster.workdir}", flush=True)
        stop.wait()
    finally:
        settings.ready_file.unlink(missing_ok=True)
        cluster.stop()
        print("local cluster stopped", flush=True)
