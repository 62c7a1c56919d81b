"""Simulate mode: pods walk Pending -> Running -> Succeeded/Failed on a schedule, no process.

Work is spread over a few threads by pod, so one pod's updates stay in order while hundreds
of pods progress at once.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from dataclasses import dataclass, field

from testenv.agent import podstatus
from testenv.agent.kubetime import now
from testenv.agent.podstatus import ContainerState, exit_reason
from testenv.agent.runtime import ContainerLog, Runtime
from testenv.kubeapi import ApiError, Obj

RUN_SECONDS_ANNOTATION = "testenv.llmtrain.dev/run-seconds"
EXIT_CODE_ANNOTATION = "testenv.llmtrain.dev/exit-code"


@dataclass
class SimPod:
    pod: Obj
    address: str
    containers: list[ContainerState]
    phase: str = "Pending"
    deleted: bool = False
    start_time: str = field(default_factory=now)


class Simulator(threading.Thread):
    """One shard of simulated pods and a timeline of their next steps."""

    def __init__(self, runtime: Runtime, index: int) -> None:
        super().__init__(name=f"simulator-{index}", daemon=True)
        self.rt = runtime
        self._pods: dict[str, SimPod] = {}
        self._timeline: list[tuple[float, int, str, str]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()

    def add(self, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        containers = [ContainerState(c["name"], c.get("image", "")) for c in pod["spec"]["containers"]]
        with self._wake:
            self._pods[uid] = SimPod(pod, self.rt.addresses.take(), containers)
        self._at(0, uid, "pending")

    def update(self, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        with self._wake:
            sim = self._pods.get(uid)
            if sim is None:
                return
            sim.pod = {**pod, "status": sim.pod.get("status", {})}
            if pod["metadata"].get("deletionTimestamp") and not sim.deleted:
                sim.deleted = True
                self._timeline_push(0, uid, "delete")

    def _at(self, delay: float, uid: str, step: str) -> None:
        with self._wake:
            self._timeline_push(delay, uid, step)

    def _timeline_push(self, delay: float, uid: str, step: str) -> None:
        heapq.heappush(self._timeline, (time.monotonic() + delay, next(self._order), uid, step))
        self._wake.notify()

    def run(self) -> None:
        while not self.rt.stop.is_set():
            with self._wake:
                if not self._timeline:
                    self._wake.wait(0.5)
                    continue
                due, _, uid, step = self._timeline[0]
                if due > time.monotonic():
                    self._wake.wait(min(0.5, due - time.monotonic()))
                    continue
                heapq.heappop(self._timeline)
                sim = self._pods.get(uid)
            if sim is not None:
                try:
                    self._step(uid, sim, step)
                except (ApiError, OSError) as e:
                    print(f"simulated pod {sim.pod['metadata']['name']}: {e}", flush=True)

    def _step(self, uid: str, sim: SimPod, step: str) -> None:
        settings = self.rt.config.settings.simulate
        annotations = sim.pod["metadata"].get("annotations", {})
        if step == "delete":
            with self._wake:
                self._pods.pop(uid, None)
            self.rt.delete_pod(sim.pod)
            self.rt.addresses.give_back(sim.address)
            return
        if sim.deleted:
            return
        if step == "pending":
            self._write(sim)
            self._at(settings.start_seconds, uid, "run")
        elif step == "run":
            sim.phase = "Running"
            meta = sim.pod["metadata"]
            for c in sim.containers:
                c.start(f"testenv-sim://{uid}/{c.name}")
                log = self.rt.config.state_dir / "sim-logs" / f"{uid}-{c.name}.log"
                log.parent.mkdir(parents=True, exist_ok=True)
                log.write_text(f"simulated container {c.name} of pod {meta['namespace']}/{meta['name']}\n")
                self.rt.logs[(meta["namespace"], meta["name"], c.name)] = ContainerLog(log, running=False)
            self._write(sim)
            if sim.pod["spec"].get("restartPolicy", "Always") != "Always":
                run_seconds = float(annotations.get(RUN_SECONDS_ANNOTATION, settings.run_seconds))
                self._at(run_seconds, uid, "finish")
        elif step == "finish":
            code = int(annotations.get(EXIT_CODE_ANNOTATION, settings.exit_code))
            for c in sim.containers:
                c.finish(code, exit_reason(code))
            sim.phase = "Succeeded" if code == 0 else "Failed"
            self._write(sim)

    def _write(self, sim: SimPod) -> None:
        host = self.rt.config.host
        status = {
            "phase": sim.phase,
            "hostIP": host,
            "hostIPs": [{"ip": host}],
            "podIP": sim.address,
            "podIPs": [{"ip": sim.address}],
            "startTime": sim.start_time,
            "conditions": podstatus.conditions(sim.pod, True, sim.containers, sandbox=sim.phase != "Failed"),
            "containerStatuses": [c.to_api() for c in sim.containers],
        }
        podstatus.write(self.rt.api, sim.pod, status)
        sim.pod = {**sim.pod, "status": status}
