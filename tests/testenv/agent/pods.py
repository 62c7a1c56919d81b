"""Follows the pods bound to the agent's nodes (list, then watch) and hands each to its
worker: a `ProcessPod` thread in process mode, a `Simulator` shard in simulate mode."""

from __future__ import annotations

import time
import zlib

from testenv.agent.podprocess import ProcessPod
from testenv.agent.podsim import Simulator
from testenv.agent.runtime import Runtime
from testenv.kubeapi import ApiError, Obj

SIMULATOR_SHARDS = 16
"""Threads writing simulated pods' status: each waits on the API server per write, so a burst
of thousands of pods needs many to keep up (a kubelet runs one worker per pod)."""
WATCH_SECONDS = 60


class PodManager:
    def __init__(self, runtime: Runtime, nodes: set[str]) -> None:
        self.rt = runtime
        self.nodes = nodes
        self.simulate = runtime.config.settings.mode == "simulate"
        self.workers: dict[str, ProcessPod] = {}
        self.simulators = [Simulator(runtime, i) for i in range(SIMULATOR_SHARDS)] if self.simulate else []
        self.known: set[str] = set()

    def run(self) -> None:
        """List and watch until the agent stops, starting over when a watch breaks."""
        for simulator in self.simulators:
            simulator.start()
        while not self.rt.stop.is_set():
            try:
                listing = self.rt.api.get("/api/v1/pods", fieldSelector="spec.nodeName!=")
                for pod in listing["items"]:
                    self._handle("ADDED", pod)
                version = listing["metadata"]["resourceVersion"]
                while not self.rt.stop.is_set():
                    for event in self.rt.api.watch("/api/v1/pods", version, WATCH_SECONDS):
                        if event["type"] == "ERROR":
                            raise ApiError(int(event["object"].get("code", 500)), str(event["object"]))
                        version = event["object"]["metadata"]["resourceVersion"]
                        if event["type"] != "BOOKMARK":
                            self._handle(event["type"], event["object"])
                        if self.rt.stop.is_set():
                            return
            except (ApiError, OSError) as e:
                if not self.rt.stop.is_set():
                    print(f"pod watch restarts: {e}", flush=True)
                    time.sleep(1)

    def _handle(self, kind: str, pod: Obj) -> None:
        if pod["spec"].get("nodeName") not in self.nodes:
            return
        uid = pod["metadata"]["uid"]
        if kind == "DELETED":
            # Deleted without grace by someone else: stop what still runs, at once.
            pod["metadata"].setdefault("deletionTimestamp", "now")
            pod["metadata"]["deletionGracePeriodSeconds"] = 0
        if uid not in self.known:
            if kind == "DELETED":
                return
            if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                self.known.add(uid)  # finished before this agent started
                if pod["metadata"].get("deletionTimestamp"):
                    self.rt.delete_pod(pod)
                return
            self.known.add(uid)
            if self.simulate:
                self._shard(uid).add(pod)
            else:
                worker = ProcessPod(self.rt, pod)
                self.workers[uid] = worker
                worker.update(pod)
                worker.start()
            return
        if self.simulate:
            self._shard(uid).update(pod)
        elif uid in self.workers:
            self.workers[uid].update(pod)
            if kind == "DELETED":
                self.workers.pop(uid)
        elif pod["metadata"].get("deletionTimestamp") and kind != "DELETED":
            self.rt.delete_pod(pod)

    def _shard(self, uid: str) -> Simulator:
        return self.simulators[zlib.crc32(uid.encode()) % len(self.simulators)]

    def shutdown(self) -> None:
        """Stop every pod process (the runtime's stop event is already set)."""
        for worker in self.workers.values():
            worker.join(timeout=60)
