"""Runs one pod as local processes, one per container, from binding to deletion.

The image is ignored: commands run with the project's virtual environment first on PATH.
Each container process starts through `podexec` (volumes and the termination message file
bind-mounted in a private mount namespace) with the podnet shim preloaded (own loopback
address, cluster DNS names).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from testenv import procs
from testenv.agent import podenv, podexec, podstatus, podvolumes, termination
from testenv.agent.kubetime import now
from testenv.agent.network import pod_dns_names
from testenv.agent.podstatus import ContainerState, exit_reason
from testenv.agent.runtime import ContainerLog, Runtime
from testenv.kubeapi import ApiError, Obj

POLL_SECONDS = 0.1
# When the agent itself stops, pods get at most this long to exit on SIGTERM.
SHUTDOWN_GRACE = 10.0
MAX_BACKOFF_SECONDS = 30.0
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CONTAINER_MARKER = "TESTENV_CONTAINER"
"""Set in every process of a container to `<pod uid>/<container name>`: how the agent finds
them all when the container ends, as a kubelet kills the container's cgroup."""


class Container:
    """One container: its spec, its status and the process running it."""

    def __init__(self, spec: Obj) -> None:
        self.spec = spec
        self.status = ContainerState(spec["name"], spec.get("image", ""))
        self.proc: subprocess.Popen[bytes] | None = None
        self.held: list[tuple[Path, int]] = []
        # This run's termination message file on the host (None: nothing mounted).
        self.termination_file: Path | None = None
        self.killed_by_agent = False
        self.restart_at = 0.0

    @property
    def name(self) -> str:
        return str(self.spec["name"])


class ProcessPod(threading.Thread):
    """The life of one pod bound to one of the agent's nodes, in process mode."""

    def __init__(self, runtime: Runtime, pod: Obj) -> None:
        super().__init__(name=f"pod-{pod['metadata']['name']}", daemon=True)
        self.rt = runtime
        self.pod = pod
        self.deleting = threading.Event()
        self.dir = runtime.pod_dir(pod)
        self.address = ""
        self.init = [Container(c) for c in pod["spec"].get("initContainers", [])]
        self.main = [Container(c) for c in pod["spec"]["containers"]]
        self.initialized = not self.init
        self.phase = "Pending"
        self.volumes: dict[str, Path] = {}

    def update(self, pod: Obj) -> None:
        """A newer version of the pod object (from the watch)."""
        self.pod = pod
        if pod["metadata"].get("deletionTimestamp"):
            self.deleting.set()

    @property
    def host_network(self) -> bool:
        return bool(self.pod["spec"].get("hostNetwork"))

    def run(self) -> None:
        self.address = self.rt.config.host if self.host_network else self.rt.addresses.take()
        key = self.pod["metadata"]["uid"]
        try:
            self._run()
        except Exception as e:  # noqa: BLE001 - one pod's failure must not stop the agent
            print(f"pod {self._ref()}: {e!r}", flush=True)
            self._kill_all(grace=0)
            self.phase = "Failed"
            self._write_status()
            self._await_deletion()
        finally:
            self.rt.hosts.remove(key)
            for c in self.init + self.main:
                self.rt.mountpoints.release(c.held)
                c.held = []
                log = self.rt.logs.get(self._log_key(c))
                # A new pod of the same name may own the entry by now.
                if log is not None and log.current.is_relative_to(self.dir):
                    log.running = False
                    if self.deleting.is_set() and not self.rt.stop.is_set():
                        self.rt.logs.pop(self._log_key(c), None)
            if not self.host_network:
                self.rt.addresses.give_back(self.address)
            if self.deleting.is_set() and not self.rt.stop.is_set():
                # Like the kubelet: a deleted pod's logs and emptyDirs go with it.
                shutil.rmtree(self.dir, ignore_errors=True)

    def _ref(self) -> str:
        return f"{self.pod['metadata']['namespace']}/{self.pod['metadata']['name']}"

    def _run(self) -> None:
        self._write_status()
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self._prepare_volumes():
            if self.deleting.is_set():
                self._finish_deletion()
            return
        self.rt.hosts.add(self.pod["metadata"]["uid"], self.address, pod_dns_names(self.pod))
        for container in self.init:
            if not self._run_init(container):
                break
        else:
            self.initialized = True
            self.phase = "Running"
            self._run_main()
        self._write_status()
        self._await_deletion()

    def _await_deletion(self) -> None:
        """Keep the finished pod until it is deleted, then remove the object."""
        while not self.deleting.wait(0.5):
            if self.rt.stop.is_set():
                return
        self._finish_deletion()

    def _prepare_volumes(self) -> bool:
        """Set up the volumes, retrying like the kubelet; False if the pod went away first."""
        node = self.pod["spec"]["nodeName"]
        reported = ""
        while not self.deleting.is_set() and not self.rt.stop.is_set():
            try:
                self.volumes = podvolumes.prepare(self.rt.api, self._view(), self.dir, self.rt.allocatable[node])
                return True
            except (podvolumes.MountError, podenv.ConfigError) as e:
                if str(e) != reported:
                    reported = str(e)
                    self.rt.event(self.pod, "FailedMount", f"MountVolume.SetUp failed: {e}", "Warning")
                    for c in self.init + self.main:
                        c.status.waiting("ContainerCreating", str(e))
                    self._write_status()
            self.deleting.wait(1.0)
        return False

    def _run_init(self, container: Container) -> bool:
        """Run an init container to success; False when the pod failed or is going away."""
        backoff = self.rt.config.settings.restart_backoff_seconds
        while True:
            if self._start(container):
                while container.proc is not None and container.proc.poll() is None:
                    if self.deleting.wait(POLL_SECONDS) or self.rt.stop.is_set():
                        self._kill_all(self._grace())
                        return False
                code = self._reap(container)
            elif container.status.terminated is None:
                if self.deleting.wait(1.0) or self.rt.stop.is_set():
                    return False
                continue
            else:
                code = self._exit_code(container)
            if code == 0:
                return True
            if self.pod["spec"].get("restartPolicy", "Always") == "Never":
                self.phase = "Failed"
                return False
            container.status.restart()
            container.status.waiting("CrashLoopBackOff", f"back-off restarting failed container {container.name}")
            self._write_status()
            if self.deleting.wait(backoff) or self.rt.stop.is_set():
                return False
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def _run_main(self) -> None:
        policy = self.pod["spec"].get("restartPolicy", "Always")
        backoff = {c.name: self.rt.config.settings.restart_backoff_seconds for c in self.main}
        for container in self.main:
            if not self._start(container) and container.status.terminated is None:
                container.restart_at = time.monotonic() + 1.0
        self._write_status()
        while True:
            if self.deleting.wait(POLL_SECONDS) or self.rt.stop.is_set():
                self._kill_all(self._grace() if not self.rt.stop.is_set() else min(self._grace(), SHUTDOWN_GRACE))
                break
            changed = False
            for c in self.main:
                if c.proc is not None and c.proc.poll() is not None:
                    code = self._reap(c)
                    changed = True
                    if policy == "Always" or (policy == "OnFailure" and code != 0):
                        c.restart_at = time.monotonic() + backoff[c.name]
                        backoff[c.name] = min(backoff[c.name] * 2, MAX_BACKOFF_SECONDS)
                        c.status.restart()
                        c.status.waiting("CrashLoopBackOff", f"back-off restarting failed container {c.name}")
                elif c.proc is None and c.restart_at and time.monotonic() >= c.restart_at:
                    c.restart_at = 0.0
                    if not self._start(c) and c.status.terminated is None:
                        c.restart_at = time.monotonic() + 1.0
                    changed = True
            if all(c.proc is None and not c.restart_at for c in self.main):
                break
            if changed:
                self._write_status()
        self.phase = "Succeeded" if all(self._exit_code(c) == 0 for c in self.main) else "Failed"

    def _start(self, container: Container) -> bool:
        """Start a container's process; False (and the status says why) if it cannot."""
        spec = container.spec
        try:
            env = podenv.container_env(
                self.rt.api, self._view(), spec, self._base_env(), self.rt.allocatable[self.pod["spec"]["nodeName"]]
            )
        except podenv.ConfigError as e:
            if container.status.state.get("waiting", {}).get("message") != str(e):
                container.status.waiting("CreateContainerConfigError", str(e))
                self._write_status()
                self.rt.event(self.pod, "Failed", f"Error: {e}", "Warning")
            return False
        argv = [podenv.expand(a, env) for a in [*spec.get("command", []), *spec.get("args", [])]]
        mounts = podvolumes.mounts_for(spec, self.volumes)
        cwd = spec.get("workingDir") or str(self.dir)
        container.held = self.rt.mountpoints.acquire(
            [*mounts, podvolumes.Mount(self.dir, cwd, read_only=False)] if spec.get("workingDir") else mounts
        )
        # Last, as the kubelet orders it: a terminationMessagePath inside a volume is the file.
        mounts += self._termination_mount(container)
        log_path = self.dir / "logs" / container.name / f"{container.status.restart_count}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        previous = self.rt.logs.get(self._log_key(container))
        self.rt.logs[self._log_key(container)] = ContainerLog(
            log_path, previous.current if previous is not None and previous.current != log_path else None
        )
        launch = self.dir / f"{container.name}.launch.json"
        mount_list = [[str(m.source), m.target, m.read_only] for m in mounts]
        launch.write_text(json.dumps({"argv": argv, "cwd": cwd, "mounts": mount_list, "agent_pid": os.getpid()}))
        if not argv:
            container.status.finish(128, "StartError", "no command specified (images are not run)")
            return False
        env[CONTAINER_MARKER] = self._container_id(container)
        container.proc = procs.spawn(
            [sys.executable, "-I", podexec.__file__, launch], log_path, env=env, die_with_parent=False
        )
        container.killed_by_agent = False
        uid = self.pod["metadata"]["uid"]
        container.status.start(f"testenv://{uid}/{container.name}/{container.status.restart_count}")
        self._write_status()
        return True

    def _reap(self, container: Container) -> int:
        """Record how a finished container process ended; returns its exit code."""
        assert container.proc is not None
        code = container.proc.wait()
        procs.stop(container.proc, grace=0)  # whatever it left behind in its group
        # ... and in sessions of its own (torchrun's workers), which a kubelet kills with the
        # container's cgroup: a stopped or stuck one would otherwise outlive its pod.
        procs.kill_marked(CONTAINER_MARKER, self._container_id(container))
        container.proc = None
        exit_code = code if code >= 0 else 128 - code
        message = termination.message(
            container.termination_file,
            container.spec.get("terminationMessagePolicy", "File"),
            exit_code,
            self.rt.logs[self._log_key(container)].current,
            termination.per_container_limit(self.pod["spec"]),
        )
        container.status.finish(exit_code, exit_reason(exit_code), message)
        self.rt.mountpoints.release(container.held)
        container.held = []
        log = self.rt.logs.get(self._log_key(container))
        if log is not None:
            log.running = False
        return exit_code

    def _termination_mount(self, container: Container) -> list[podvolumes.Mount]:
        """A new message file for this run, to mount at the container's terminationMessagePath."""
        container.termination_file = None
        target = termination.container_path(container.spec)
        if not target:
            return []
        source = termination.create_file(self.dir, container.name)
        mount = podvolumes.Mount(source, target, read_only=False)
        try:
            container.held += self.rt.mountpoints.acquire([mount])
        except PermissionError as e:
            # Without root the agent cannot create /dev/termination-log on the host; the
            # container then runs without the file, its message can only come from logs.
            print(f"pod {self._ref()}: no termination message file for {container.name}: {e}", flush=True)
            return []
        container.termination_file = source
        return [mount]

    def _kill_all(self, grace: float) -> None:
        """SIGTERM every running container's main process, SIGKILL its whole group after `grace`.

        As a container runtime does: the stop signal goes to the container's init process
        alone, which passes it on as it sees fit (torchrun does to its workers).
        """
        running = [c for c in self.init + self.main if c.proc is not None and c.proc.poll() is None]
        for c in running:
            assert c.proc is not None
            c.killed_by_agent = True
            with contextlib.suppress(ProcessLookupError):
                c.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for c in running:
            assert c.proc is not None
            try:
                c.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(c.proc.pid, signal.SIGKILL)
        for c in self.init + self.main:
            if c.proc is not None:
                self._reap(c)
            c.restart_at = 0.0

    def _exit_code(self, container: Container) -> int:
        terminated = container.status.terminated
        return int(terminated["exitCode"]) if terminated else 0

    def _grace(self) -> float:
        meta_grace = self.pod["metadata"].get("deletionGracePeriodSeconds")
        if meta_grace is not None:
            return float(meta_grace)
        return float(self.pod["spec"].get("terminationGracePeriodSeconds", 30))

    def _finish_deletion(self) -> None:
        """The containers are gone: report their final state and remove the pod object."""
        self._write_status()
        self.rt.delete_pod(self.pod)

    def _base_env(self) -> dict[str, str]:
        namespace = self.pod["metadata"]["namespace"]
        hostname = self.pod["spec"].get("hostname") or self.pod["metadata"]["name"]
        cfg = self.rt.config
        return {
            "PATH": f"{cfg.venv_bin}:{SYSTEM_PATH}",
            "HOME": os.environ.get("HOME", "/root"),
            "HOSTNAME": hostname,
            "KUBERNETES_SERVICE_HOST": cfg.api_host,
            "KUBERNETES_SERVICE_PORT": str(cfg.api_port),
            "LD_PRELOAD": str(cfg.shim),
            **({} if self.host_network else {"TESTENV_POD_IP": self.address, "TESTENV_HOSTNAME": hostname}),
            "TESTENV_HOSTS": str(self.rt.hosts.path),
            "TESTENV_SEARCH": f"{namespace}.svc.cluster.local svc.cluster.local cluster.local",
        }

    def _container_id(self, container: Container) -> str:
        return f"{self.pod['metadata']['uid']}/{container.name}"

    def _log_key(self, container: Container) -> tuple[str, str, str]:
        meta = self.pod["metadata"]
        return (meta["namespace"], meta["name"], container.name)

    def _view(self) -> Obj:
        """The pod as its containers see it through the downward API."""
        return {**self.pod, "status": self._status()}

    def _status(self) -> Obj:
        host = self.rt.config.host
        return {
            "phase": self.phase,
            "hostIP": host,
            "hostIPs": [{"ip": host}],
            "podIP": self.address,
            "podIPs": [{"ip": self.address}],
            "startTime": self.pod.get("status", {}).get("startTime") or now(),
            "conditions": podstatus.conditions(
                self.pod, self.initialized, [c.status for c in self.main], sandbox=self.phase != "Failed"
            ),
            "initContainerStatuses": [c.status.to_api() for c in self.init],
            "containerStatuses": [c.status.to_api() for c in self.main],
        }

    def _write_status(self) -> None:
        status = self._status()
        try:
            podstatus.write(self.rt.api, self.pod, status)
        except (ApiError, OSError) as e:
            print(f"pod {self._ref()}: status update failed: {e}", flush=True)
            return
        self.pod = {**self.pod, "status": status}
