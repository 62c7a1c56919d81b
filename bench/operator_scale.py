"""Operator scale benchmark: our operator against the Kubeflow Training Operator v1.8.1.

Issue 15, item 2. Each operator runs on a fresh local cluster of its own (`testenv`: the
real etcd, kube-apiserver, controller manager and scheduler, with an audit log of every
ServiceAccount's requests; the node agent in `simulate` mode with 25 nodes, whose pods go
Pending -> Running -> Succeeded after 20 s without running anything), one operator after the
other, and gets the same load: N jobs of 8 pods created at once (a thread pool of 16).

- **ours**: `python -m llmtrain_operator` as `tests/support/operator_fixture.py` runs it (the
  generated CRD, the chart's ServiceAccount and RBAC, a ServiceAccount kubeconfig), with the
  chart's default scrape interval; `LLMTrainingJob`s with `nodes: 8` and a custom `command`.
- **kubeflow**: the Training Operator v1.8.1 built by `make kubeflow-operator` into `bin/`,
  its PyTorchJob CRD and ClusterRole from the Go module cache, `--enable-scheme=pytorchjob`,
  its own ServiceAccount kubeconfig; PyTorchJobs of 1 Master + 7 Workers.

Measured by this process, which watches the pods (metadata only) and the jobs as the
cluster's admin (not audited): create -> all 8 pods exist per job (against the moment the
job's create returned; p50/p99), all pods created, all jobs Running, all jobs Succeeded
(from the first create), the operator's RSS peak and CPU seconds (its /proc process tree,
sampled every 0.5 s), and its API requests by verb and resource from the audit log (its
ServiceAccount, between the first create and the last job's Succeeded; events counted
apart), with GETs of a job per job. `--hog K` runs each operator a second time with K
busy-loop processes beside it and reports convergence loaded / unloaded.

    .venv/bin/python bench/operator_scale.py --jobs 50 [--hog 2] [--out report.json]

(`make bench-operator-scale BENCH_ARGS="--jobs 50"`). A benchmark: it asserts no speed;
it exits 1 only when a run fails or does not converge in time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))

from support.chart_rbac import CHART_DIR, operator_rbac_objects, service_account_name  # noqa: E402
from support.crd_install import install_crd  # noqa: E402
from support.job_helpers import command_job, shell  # noqa: E402
from support.operator_fixture import RunningOperator  # noqa: E402
from testenv import (  # noqa: E402
    ControlPlane,
    ControlPlaneSettings,
    NodeAgent,
    NodeAgentSettings,
    NodeSpec,
    SimulateSettings,
    procs,
)
from testenv.controlplane import SERVICE_ACCOUNT_AUDIT_POLICY  # noqa: E402
from testenv.kubeapi import KubeAPI  # noqa: E402
from testenv.netutil import free_port, http_ok, wait_until  # noqa: E402

Obj = dict[str, Any]

KUBEFLOW_VERSION = "v1.8.1"
KUBEFLOW_MODULE = "github.com/kubeflow/training-operator"
KUBEFLOW_BINARY = REPO_ROOT / "bin" / f"kubeflow-{KUBEFLOW_VERSION}" / "training-operator.v1"
KUBEFLOW_NAMESPACE = "kubeflow"  # the operator's default (MY_POD_NAMESPACE unset)
KUBEFLOW_SERVICE_ACCOUNT = "training-operator"
CRD = "pytorchjobs.kubeflow.org"
# The cert rotator of v1.8.1 waits for tls.crt in this directory, a constant of
# pkg/cert/cert.go (no flag), and the webhook server loads its key pair from there.
KUBEFLOW_CERT_DIR = Path("/tmp/k8s-webhook-server/serving-certs")
OUR_NAMESPACE = "llmtrain-system"  # the chart's default
JOB_NAMESPACE = "bench"
IMAGE = "llmtrain/trainer:test"  # never pulled: simulated pods run nothing
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
EVENTS = {("", "events"), ("events.k8s.io", "events")}


@dataclass(frozen=True)
class Settings:
    jobs: int = 50
    pods_per_job: int = 8
    nodes: int = 25
    pods_per_node: int = 160
    run_seconds: float = 20.0
    start_seconds: float = 0.5
    create_threads: int = 16
    timeout: float = 0.0  # per run; 0: 300 s + 3 s per job (doubled under a hog)
    progress_seconds: float = 10.0

    def run_timeout(self, hog: int) -> float:
        base = self.timeout or 300 + 3 * self.jobs
        return base * (2 if hog and not self.timeout else 1)


def log(message: str) -> None:
    print(f"{datetime.now(UTC):%H:%M:%S} {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Watches as the cluster's admin (testenv.kubeapi.KubeAPI), with the Accept header we choose.


class Watch(threading.Thread):
    """List then watch `path`, calling `on_object(obj, monotonic time)` for every object seen
    (the listing's and every ADDED/MODIFIED event's); reconnects from the last resourceVersion,
    lists again when it is too old."""

    def __init__(self, api: KubeAPI, path: str, on_object: Callable[[Obj, float], None], metadata: bool) -> None:
        super().__init__(name=f"watch {path}", daemon=True)
        self.api = api
        self.path = path
        self.on_object = on_object
        self.accept = METADATA_ONLY if metadata else "application/json"
        self.list_accept = METADATA_LIST if metadata else "application/json"
        self.stop = threading.Event()
        self.listed = threading.Event()
        self.errors = 0

    def _list(self) -> str:
        listing = self.api.request("GET", self.path, accept=self.list_accept)
        now = time.monotonic()
        for item in listing.get("items") or []:
            self.on_object(item, now)
        self.listed.set()
        return str(listing["metadata"]["resourceVersion"])

    def run(self) -> None:
        version = ""
        while not self.stop.is_set():
            try:
                if not version:
                    version = self._list()
                for event in self.api.watch(self.path, version, accept=self.accept):
                    if self.stop.is_set():
                        return
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        version = ""  # 410 Gone: list again
                        break
                    version = obj["metadata"]["resourceVersion"]
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self.on_object(obj, time.monotonic())
            except Exception as e:  # noqa: BLE001 - a broken watch is retried, never fatal
                self.errors += 1
                if not self.stop.is_set():
                    log(f"   watch {self.path}: {e!r}; reconnecting")
                    time.sleep(1)


# ---------------------------------------------------------------------------------------------
# The operator's process tree: RSS and CPU from /proc.

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo += [int(child) for child in task.read_text().split()]
    return found


def _rss_cpu(pid: int) -> tuple[int, float]:
    """(RSS bytes, CPU seconds: user + system, with reaped children) of one process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    cpu = sum(int(value) for value in fields[11:15]) / CLOCK_TICKS  # utime stime cutime cstime
    rss = next((int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return rss, cpu


class Sampler(threading.Thread):
    """Samples the process tree of `pid` every `interval` seconds: peak RSS, CPU seconds."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        super().__init__(name="sampler", daemon=True)
        self.pid = pid
        self.interval = interval
        self.stop = threading.Event()
        self.peak_rss = 0
        self.rss = 0
        self._cpu: dict[int, float] = {}  # the last CPU time of every process of the tree
        self.load_peak = 0.0

    def sample(self) -> float:
        """Sample now; returns the tree's CPU seconds so far (exited processes included)."""
        rss = 0
        for pid in _tree(self.pid):
            pid_rss, cpu = _rss_cpu(pid)
            rss += pid_rss
            if cpu:
                self._cpu[pid] = cpu
        self.rss = rss
        self.peak_rss = max(self.peak_rss, rss)
        self.load_peak = max(self.load_peak, os.getloadavg()[0])
        return sum(self._cpu.values())

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            self.sample()


# ---------------------------------------------------------------------------------------------
# The two operators.


class Operator(Protocol):
    name: str
    kind: str
    jobs_path: str

    def install(self, cluster: ControlPlane, workdir: Path) -> None: ...
    def start(self) -> int: ...
    def stop(self) -> None: ...
    def user(self) -> str: ...
    def job(self, name: str, settings: Settings) -> Obj: ...
    def state(self, job: Obj) -> str | None: ...
    def log_tail(self) -> str: ...


class Ours:
    name = "ours"
    kind = "LLMTrainingJob"
    jobs_path = f"/apis/llmtrain.dev/v1alpha1/namespaces/{JOB_NAMESPACE}/llmtrainingjobs"

    def __init__(self) -> None:
        self.operator: RunningOperator | None = None
        self.kubeconfig: Path | None = None
        self.log = Path(os.devnull)

    def install(self, cluster: ControlPlane, workdir: Path) -> None:
        install_crd(cluster.kubectl)
        cluster.kubectl("create", "namespace", OUR_NAMESPACE)
        rbac = yaml.safe_dump_all(operator_rbac_objects(OUR_NAMESPACE))
        cluster.kubectl("apply", "-f", "-", input=rbac)
        self.kubeconfig = cluster.service_account_kubeconfig(OUR_NAMESPACE, service_account_name(), create=False)
        self.log = workdir / "operator.log"

    def start(self) -> int:
        assert self.kubeconfig is not None
        values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
        env = {"LLMTRAIN_SCRAPE_INTERVAL_SECONDS": str(values["operator"]["scrapeIntervalSeconds"])}
        self.operator = RunningOperator(self.kubeconfig, self.log, env=env).start()
        assert self.operator.process is not None
        return self.operator.process.pid

    def stop(self) -> None:
        if self.operator is not None:
            self.operator.stop()
            self.operator = None

    def user(self) -> str:
        return f"system:serviceaccount:{OUR_NAMESPACE}:{service_account_name()}"

    def job(self, name: str, settings: Settings) -> Obj:
        return command_job(name, shell(f"sleep {settings.run_seconds:g}"), nodes=settings.pods_per_job)

    def state(self, job: Obj) -> str | None:
        phase = (job.get("status") or {}).get("phase")
        return str(phase) if phase else None

    def log_tail(self) -> str:
        return procs.tail(self.log, 40)


class Kubeflow:
    name = "kubeflow"
    kind = "PyTorchJob"
    jobs_path = f"/apis/kubeflow.org/v1/namespaces/{JOB_NAMESPACE}/pytorchjobs"

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.kubeconfig: Path | None = None
        self.log = Path(os.devnull)
        self.made: list[Path] = []
        self.cluster: ControlPlane | None = None

    @staticmethod
    def manifests() -> Path:
        """manifests/base of the module in the Go module cache (downloaded when missing)."""
        gomodcache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True)
        base = Path(gomodcache.stdout.strip()) / f"{KUBEFLOW_MODULE}@{KUBEFLOW_VERSION}" / "manifests" / "base"
        if not base.exists():
            subprocess.run(["go", "mod", "download", f"{KUBEFLOW_MODULE}@{KUBEFLOW_VERSION}"], check=True)
        return base

    def install(self, cluster: ControlPlane, workdir: Path) -> None:
        if not KUBEFLOW_BINARY.exists():
            raise RuntimeError(f"{KUBEFLOW_BINARY} is missing: run `make kubeflow-operator` first")
        self.cluster = cluster
        base = self.manifests()
        cluster.kubectl("apply", "--server-side", "-f", str(base / "crds" / f"kubeflow.org_{CRD.split('.')[0]}.yaml"))
        established = "jsonpath={.status.conditions[?(@.type=='Established')].status}"
        wait_until(
            lambda: cluster.kubectl("get", "crd", CRD, "-o", established, check=False).stdout.strip() == "True",
            60,
            "the PyTorchJob CRD to be established",
            0.2,
        )
        cluster.kubectl("create", "namespace", KUBEFLOW_NAMESPACE)
        rbac = []
        for doc in yaml.safe_load_all((base / "rbac" / "role.yaml").read_text()):
            if doc:
                rbac.append(doc)
        for file in ("service-account.yaml", "cluster-role-binding.yaml"):
            for doc in yaml.safe_load_all((base / "rbac" / file).read_text()):
                if doc and doc["kind"] == "ServiceAccount":
                    doc["metadata"]["namespace"] = KUBEFLOW_NAMESPACE
                elif doc:
                    for subject in doc["subjects"]:
                        subject["namespace"] = KUBEFLOW_NAMESPACE
                if doc:
                    rbac.append(doc)
        # What its cert rotator needs to start: the Secret it fills and the webhook
        # configuration it injects the CA into (no webhooks: the benchmark's jobs are valid).
        rbac.append({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "training-operator-webhook-cert", "namespace": KUBEFLOW_NAMESPACE},
        })  # fmt: skip
        rbac.append({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "validator.training-operator.kubeflow.org"},
        })  # fmt: skip
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(rbac))
        self.kubeconfig = cluster.service_account_kubeconfig(KUBEFLOW_NAMESPACE, KUBEFLOW_SERVICE_ACCOUNT, create=False)
        self.log = workdir / "kubeflow-operator.log"
        self.log.touch()
        self._serving_certs()

    def _serving_certs(self) -> None:
        """Self-signed files in the webhook's fixed certificate directory (only when none are
        there; removed by `stop` when this run made them)."""
        if (KUBEFLOW_CERT_DIR / "tls.crt").exists() and (KUBEFLOW_CERT_DIR / "tls.key").exists():
            return
        assert self.cluster is not None
        pair = self.cluster.ca.issue(
            "kubeflow-webhook", common_name="training-operator.kubeflow.svc", dns=("training-operator.kubeflow.svc",)
        )
        missing = [d for d in (KUBEFLOW_CERT_DIR.parent, KUBEFLOW_CERT_DIR) if not d.exists()]
        KUBEFLOW_CERT_DIR.mkdir(parents=True, exist_ok=True)
        self.made = [KUBEFLOW_CERT_DIR / "tls.crt", KUBEFLOW_CERT_DIR / "tls.key", *reversed(missing)]
        shutil.copyfile(pair.cert, KUBEFLOW_CERT_DIR / "tls.crt")
        shutil.copyfile(pair.key, KUBEFLOW_CERT_DIR / "tls.key")

    def start(self) -> int:
        assert self.kubeconfig is not None
        probe = free_port()
        argv = [
            str(KUBEFLOW_BINARY),
            "--enable-scheme=pytorchjob",
            f"--metrics-bind-address=127.0.0.1:{free_port()}",
            f"--health-probe-bind-address=127.0.0.1:{probe}",
            f"--webhook-server-port={free_port()}",
        ]
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        self.process = procs.spawn(argv, self.log, env=env)

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"the Kubeflow operator exited with {self.process.returncode}:\n{self.log_tail()}")
            if not http_ok(f"http://127.0.0.1:{probe}/readyz"):
                return False
            text = self.log.read_text(errors="replace")
            return any("Starting workers" in line and "pytorchjob" in line for line in text.splitlines())

        wait_until(ready, 120, "the Kubeflow operator's /readyz and its PyTorchJob controller's workers", 0.5)
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None:
            procs.stop(self.process)
            self.process = None
        for path in self.made:  # files first, then the directories this run created
            with contextlib.suppress(OSError):
                path.rmdir() if path.is_dir() else path.unlink()
        self.made = []

    def user(self) -> str:
        return f"system:serviceaccount:{KUBEFLOW_NAMESPACE}:{KUBEFLOW_SERVICE_ACCOUNT}"

    def job(self, name: str, settings: Settings) -> Obj:
        def replica(count: int) -> Obj:
            container = {"name": "pytorch", "image": IMAGE, "command": ["sh", "-c", f"sleep {settings.run_seconds:g}"]}
            return {"replicas": count, "restartPolicy": "OnFailure", "template": {"spec": {"containers": [container]}}}

        return {
            "apiVersion": "kubeflow.org/v1",
            "kind": "PyTorchJob",
            "metadata": {"name": name},
            "spec": {"pytorchReplicaSpecs": {"Master": replica(1), "Worker": replica(settings.pods_per_job - 1)}},
        }

    def state(self, job: Obj) -> str | None:
        conditions = {c["type"]: c["status"] for c in (job.get("status") or {}).get("conditions") or []}
        for phase in ("Succeeded", "Failed", "Running"):
            if conditions.get(phase) == "True":
                return phase
        return None

    def log_tail(self) -> str:
        return procs.tail(self.log, 40)


OPERATORS: dict[str, Callable[[], Operator]] = {"ours": Ours, "kubeflow": Kubeflow}


# ---------------------------------------------------------------------------------------------
# One run: a fresh cluster, one operator, N jobs.


@dataclass
class Observed:
    """What the watches saw, as monotonic times."""

    pods: dict[str, float] = field(default_factory=dict)  # pod name -> first seen
    pods_of: dict[str, list[float]] = field(default_factory=dict)  # job -> first-seen times of its pods
    running: dict[str, float] = field(default_factory=dict)
    succeeded: dict[str, float] = field(default_factory=dict)
    failed: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pod(self, obj: Obj, now: float) -> None:
        meta = obj["metadata"]
        owner = next((o["name"] for o in meta.get("ownerReferences", []) if o.get("controller")), None)
        with self.lock:
            if meta["name"] in self.pods or owner is None:
                return
            self.pods[meta["name"]] = now
            self.pods_of.setdefault(owner, []).append(now)

    def job(self, name: str, state: str | None, now: float) -> None:
        with self.lock:
            if state in ("Running", "Succeeded", "Failed"):
                self.running.setdefault(name, now)
            if state == "Succeeded":
                self.succeeded.setdefault(name, now)
            elif state == "Failed":
                self.failed.setdefault(name, now)


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile, linear between the closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def read_audit(cluster: ControlPlane, start: int, end: int, user: str) -> dict[str, Any]:
    """The requests of `user` in the audit log between two marks (byte offsets): counts by
    "verb resource" (a watch counted once), with the non-2xx answers by code."""
    with cluster.audit_log.open("rb") as audit:
        audit.seek(start)
        text = audit.read(max(0, end - start))
    seen: set[str] = set()
    counts: Counter[str] = Counter()
    codes: dict[str, Counter[str]] = {}
    events = 0
    for line in text[: text.rfind(b"\n") + 1].splitlines():
        event = json.loads(line)
        if event["user"]["username"] != user or event["auditID"] in seen:
            continue
        seen.add(event["auditID"])
        ref = event.get("objectRef")
        if ref is None:
            key = f"{event['verb']} (discovery and other non-resource URLs)"
        else:
            if (ref.get("apiGroup", ""), ref["resource"]) in EVENTS:
                events += 1
                continue
            resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
            key = f"{event['verb']} {resource}"
        counts[key] += 1
        code = (event.get("responseStatus") or {}).get("code", 0)
        if event.get("stage") == "ResponseComplete" and not 200 <= code < 300:
            codes.setdefault(key, Counter())[str(code)] += 1
    return {
        "total": sum(counts.values()),
        "events": events,
        "by_request": dict(counts.most_common()),
        "errors": {key: dict(c) for key, c in codes.items()},
    }


def watched(cluster: ControlPlane, since: int, user: str) -> set[str]:
    """The resources `user` has started watches on since the audit mark `since`."""
    return {
        event["objectRef"]["resource"]
        for event in cluster.audit_events(since)
        if event["user"]["username"] == user and event["verb"] == "watch" and event.get("objectRef")
    }


@contextmanager
def hogs(count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` busy-loop processes, stopped on exit."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(count):
            started.append(procs.spawn([sys.executable, "-c", "while True: pass"], Path(os.devnull)))
        yield started
    finally:
        for hog in started:
            procs.stop(hog, grace=2)


def run_one(make: Callable[[], Operator], settings: Settings, hog: int, keep: Path | None) -> dict[str, Any]:
    operator = make()
    label = f"{operator.name}{f' +hog {hog}' if hog else ''}"
    result: dict[str, Any] = {"operator": operator.name, "hog": hog, "jobs": settings.jobs}
    if keep is None:
        workdir = Path(tempfile.mkdtemp(prefix=f"bench-{operator.name}-"))
    else:
        workdir = keep / f"{operator.name}-hog{hog}"
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
    cluster = ControlPlane(ControlPlaneSettings(workdir=workdir / "cluster", audit_policy=SERVICE_ACCOUNT_AUDIT_POLICY))
    agent: NodeAgent | None = None
    sampler: Sampler | None = None
    watches: list[Watch] = []
    try:
        began = time.monotonic()
        log(f"[{label}] starting a fresh control plane and a simulating node agent with {settings.nodes} nodes")
        cluster.start()
        nodes = [NodeSpec(f"bench-node-{i:02d}", gpus=8, pods=settings.pods_per_node) for i in range(settings.nodes)]
        agent_settings = NodeAgentSettings(
            mode="simulate",
            pod_ip_prefix="127.213",
            simulate=SimulateSettings(start_seconds=settings.start_seconds, run_seconds=settings.run_seconds),
        )
        agent = NodeAgent(cluster, nodes, settings=agent_settings, name="sim-agent").start()
        cluster.kubectl("create", "namespace", JOB_NAMESPACE)
        wait_until(
            lambda: (
                cluster.kubectl("-n", JOB_NAMESPACE, "get", "serviceaccount", "default", check=False).returncode == 0
            ),
            60,
            "the default ServiceAccount of the benchmark's namespace",
        )
        log(f"[{label}] cluster up in {time.monotonic() - began:.1f}s; installing and starting the operator")
        operator.install(cluster, workdir)
        mark_start = cluster.audit_mark()
        started = time.monotonic()
        pid = operator.start()
        sampler = Sampler(pid)
        sampler.sample()
        sampler.start()
        jobs_resource = operator.jobs_path.rsplit("/", 1)[1]
        wait_until(
            lambda: {"pods", jobs_resource} <= watched(cluster, mark_start, operator.user()),
            120,
            f"the operator's watches of pods and {jobs_resource} (in the audit log)",
            0.5,
        )
        log(f"[{label}] operator ready and watching in {time.monotonic() - started:.1f}s (pid {pid})")

        api = KubeAPI(cluster.kubeconfig_path)
        seen = Observed()
        pod_watch = Watch(api, f"/api/v1/namespaces/{JOB_NAMESPACE}/pods", seen.pod, metadata=True)
        job_watch = Watch(
            api, operator.jobs_path, lambda obj, now: seen.job(obj["metadata"]["name"], operator.state(obj), now), False
        )
        watches = [pod_watch, job_watch]
        for watch in watches:
            watch.start()
        for watch in watches:
            if not watch.listed.wait(30):
                raise TimeoutError(f"the benchmark's watch of {watch.path} did not list in 30 s")

        with hogs(hog):
            result["load_before"] = os.getloadavg()[0]
            mark_create = cluster.audit_mark()
            cpu_before = sampler.sample()
            names = [f"job-{i:04d}" for i in range(settings.jobs)]
            created: dict[str, float] = {}
            log(f"[{label}] creating {settings.jobs} {operator.kind}s of {settings.pods_per_job} pods")
            t0 = time.monotonic()

            def create(name: str) -> None:
                api.request("POST", operator.jobs_path, operator.job(name, settings))
                created[name] = time.monotonic()

            with ThreadPoolExecutor(settings.create_threads) as pool:
                list(pool.map(create, names))
            result["create_all_s"] = time.monotonic() - t0
            total_pods = settings.jobs * settings.pods_per_job
            deadline = t0 + settings.run_timeout(hog)
            next_progress = t0
            not_ready_peak = 0
            while True:
                now = time.monotonic()
                with seen.lock:
                    done = len(seen.succeeded) + len(seen.failed)
                    pods, running = len(seen.pods), len(seen.running)
                    full = sum(len(v) >= settings.pods_per_job for v in seen.pods_of.values())
                if done >= settings.jobs:
                    break
                if now >= next_progress:
                    nodes_listing = api.request("GET", "/api/v1/nodes")["items"]
                    not_ready = sum(
                        1
                        for n in nodes_listing
                        if not any(
                            c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", [])
                        )
                    )
                    not_ready_peak = max(not_ready_peak, not_ready)
                    log(
                        f"[{label}] t+{now - t0:5.0f}s  pods {pods}/{total_pods}, jobs with all pods "
                        f"{full}/{settings.jobs}, Running {running}, Succeeded {len(seen.succeeded)}, "
                        f"Failed {len(seen.failed)}; operator RSS {sampler.rss / 2**20:.0f} MB, "
                        f"CPU {sampler.sample() - cpu_before:.1f}s; load {os.getloadavg()[0]:.1f}"
                        + (f"; nodes NotReady {not_ready}" if not_ready else "")
                    )
                    next_progress = now + settings.progress_seconds
                if now >= deadline:
                    result["timed_out"] = True
                    log(
                        f"[{label}] TIMED OUT after {now - t0:.0f}s (--timeout): {done}/{settings.jobs} jobs "
                        f"finished, {pods}/{total_pods} pods created, {running} jobs reached Running; "
                        f"figures below cover what was reached. Operator log (end):\n{operator.log_tail()}"
                    )
                    break
                time.sleep(0.2)
            end = time.monotonic()
            mark_end = cluster.audit_mark()
            cpu_end = sampler.sample()
            result["load_end"] = os.getloadavg()[0]

        with seen.lock:
            per_job_pods = [
                max(times) - created[job]
                for job, times in seen.pods_of.items()
                if len(times) >= settings.pods_per_job and job in created
            ]
            to_running = [t - created[j] for j, t in seen.running.items() if j in created]
            to_succeeded = [t - created[j] for j, t in seen.succeeded.items() if j in created]
            complete = len(per_job_pods) == settings.jobs
            result.update({
                "pods_seen": len(seen.pods),
                "jobs_running": len(seen.running),
                "jobs_succeeded": len(seen.succeeded),
                "jobs_failed": len(seen.failed),
                "create_to_pods_p50_s": percentile(per_job_pods, 50),
                "create_to_pods_p99_s": percentile(per_job_pods, 99),
                "create_to_running_p50_s": percentile(to_running, 50),
                "create_to_succeeded_p50_s": percentile(to_succeeded, 50),
                "all_pods_created_s": max(seen.pods.values()) - t0 if complete else None,
                "all_running_s": max(seen.running.values()) - t0 if len(seen.running) == settings.jobs else None,
                "all_succeeded_s": (
                    max(seen.succeeded.values()) - t0 if len(seen.succeeded) == settings.jobs else None
                ),
            })  # fmt: skip
        audit = read_audit(cluster, mark_create, mark_end, operator.user())
        startup_audit = read_audit(cluster, mark_start, mark_create, operator.user())
        job_gets = audit["by_request"].get(f"get {jobs_resource}", 0)
        result.update({
            "rss_peak_mb": sampler.peak_rss / 2**20,
            "cpu_s": cpu_end - cpu_before,
            "cpu_startup_s": cpu_before,
            "load_peak": sampler.load_peak,
            "nodes_not_ready_peak": not_ready_peak,
            "window_s": end - t0,
            "requests": audit["total"],
            "requests_events": audit["events"],
            "job_gets_per_job": job_gets / settings.jobs,
            "requests_by_verb_resource": audit["by_request"],
            "request_errors": audit["errors"],
            "startup_requests": startup_audit["total"],
            "watch_reconnects": sum(w.errors for w in watches),
        })  # fmt: skip
        log(f"[{label}] done: all Succeeded {fmt_s(result['all_succeeded_s'])}, {audit['total']} requests")
    except Exception as e:  # noqa: BLE001 - one run's failure is reported; the next run still runs
        result["error"] = f"{type(e).__name__}: {e}" + (
            f" {e.stderr.strip()[:500]}" if isinstance(e, subprocess.CalledProcessError) and e.stderr else ""
        )
        log(f"[{label}] FAILED: {result['error']}\n{operator.log_tail()}")
    finally:
        for watch in watches:
            watch.stop.set()
        if sampler is not None:
            sampler.stop.set()
        operator.stop()
        if agent is not None:
            agent.stop()
        cluster.stop()
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"[{label}] logs kept in {workdir}")
    return result


# ---------------------------------------------------------------------------------------------
# Report.


def fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


ROWS: list[tuple[str, str, Callable[[Any], str]]] = [
    ("create -> 8 pods p50", "create_to_pods_p50_s", fmt_s),
    ("create -> 8 pods p99", "create_to_pods_p99_s", fmt_s),
    ("all pods created", "all_pods_created_s", fmt_s),
    ("all jobs Running", "all_running_s", fmt_s),
    ("all jobs Succeeded", "all_succeeded_s", fmt_s),
    ("create -> Running p50", "create_to_running_p50_s", fmt_s),
    ("create -> Succeeded p50", "create_to_succeeded_p50_s", fmt_s),
    ("jobs Succeeded / Failed", "jobs_succeeded", str),
    ("operator RSS peak", "rss_peak_mb", lambda v: f"{v:.0f} MB"),
    ("operator CPU (run)", "cpu_s", lambda v: f"{v:.1f} s"),
    ("operator CPU (start-up)", "cpu_startup_s", lambda v: f"{v:.1f} s"),
    ("API requests excl. events", "requests", lambda v: f"{v:,}"),
    ("events created", "requests_events", lambda v: f"{v:,}"),
    ("GETs of a job per job", "job_gets_per_job", lambda v: f"{v:.1f}"),
    ("load average peak", "load_peak", lambda v: f"{v:.1f}"),
    ("nodes NotReady (peak)", "nodes_not_ready_peak", str),
]
RATIO_KEYS = [
    "create_to_pods_p50_s", "create_to_pods_p99_s", "all_pods_created_s", "all_running_s", "all_succeeded_s",
    "create_to_running_p50_s", "create_to_succeeded_p50_s", "rss_peak_mb", "cpu_s", "requests", "job_gets_per_job",
]  # fmt: skip


def ratios(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key in RATIO_KEYS:
        x, y = a.get(key), b.get(key)
        out[key] = x / y if isinstance(x, int | float) and isinstance(y, int | float) and y else None
    return out


def print_report(runs: list[dict[str, Any]], report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(100, shutil.get_terminal_size((160, 24)).columns))
    title = f"{report['settings']['jobs']} jobs x {report['settings']['pods_per_job']} pods"
    table = Table(title=f"Operator scale: {title}, {report['settings']['nodes']} simulated nodes")
    table.add_column("")
    labels = [f"{r['operator']}{' +hog ' + str(r['hog']) if r['hog'] else ''}" for r in runs]
    for label in labels:
        table.add_column(label, justify="right")
    pairs = report["ratios"]
    for name in pairs:
        table.add_column(name, justify="right")
    for row, key, show in ROWS:
        cells = []
        for run in runs:
            value = run.get(key)
            if key == "jobs_succeeded" and value is not None:
                cells.append(f"{value} / {run.get('jobs_failed', 0)}")
            else:
                cells.append("-" if value is None else show(value))
        for ratio in pairs.values():
            value = ratio.get(key)
            cells.append("" if value is None else f"{value:.2f}x")
        table.add_row(row, *cells)
    console.print(table)

    requests = Table(title="API requests by verb and resource (excl. events), first create -> all Succeeded")
    requests.add_column("request")
    for label in labels:
        requests.add_column(label, justify="right")
    keys = sorted({k for r in runs for k in r.get("requests_by_verb_resource", {})})
    keys.sort(key=lambda k: -max(r.get("requests_by_verb_resource", {}).get(k, 0) for r in runs))
    for key in keys:
        cells = []
        for run in runs:
            count = run.get("requests_by_verb_resource", {}).get(key, 0)
            errors = run.get("request_errors", {}).get(key, {})
            note = ", ".join(f"{n} x {code}" for code, n in sorted(errors.items()))
            cells.append(f"{count:,}" + (f" ({note})" if note else "") if count else "")
        requests.add_row(key, *cells)
    console.print(requests)
    for name, value in report.get("under_load", {}).items():
        console.print(f"under load: {name}: all Succeeded loaded/unloaded = {value}")
    for run in runs:
        if run.get("error") or run.get("timed_out"):
            console.print(f"[red]{run['operator']} hog {run['hog']}: {run.get('error') or 'timed out'}[/red]")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", "-n", type=int, default=50, help="jobs per operator (issue 15: 50, 200, 500)")
    parser.add_argument("--operators", default="ours,kubeflow", help="comma-separated, run in this order")
    parser.add_argument("--hog", type=int, default=0, help="also run each operator beside K busy-loop processes")
    parser.add_argument("--nodes", type=int, default=Settings.nodes)
    parser.add_argument(
        "--pods-per-node",
        type=int,
        default=Settings.pods_per_node,
        help="the nodes' pod capacity (default: 500 jobs fit at once on 25 nodes, so no gang waits for room)",
    )
    parser.add_argument("--run-seconds", type=float, default=Settings.run_seconds, help="how long each pod runs")
    parser.add_argument("--timeout", type=float, default=0, help="seconds per run (default 300 + 3 per job, x2 hog)")
    parser.add_argument("--keep", type=Path, help="keep each run's cluster directory and logs under this directory")
    parser.add_argument("--out", type=Path, help="write the report as JSON")
    args = parser.parse_args()
    settings = Settings(
        jobs=args.jobs,
        nodes=args.nodes,
        pods_per_node=args.pods_per_node,
        run_seconds=args.run_seconds,
        timeout=args.timeout,
    )
    names = [name.strip() for name in args.operators.split(",") if name.strip()]
    unknown = set(names) - set(OPERATORS)
    if unknown:
        parser.error(f"unknown operators {sorted(unknown)}; choose from {sorted(OPERATORS)}")
    if "kubeflow" in names and not KUBEFLOW_BINARY.exists():
        parser.error(f"{KUBEFLOW_BINARY} is missing: run `make kubeflow-operator` first")

    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_at_start": os.getloadavg(),
        },
        "settings": asdict(settings),
        "command": " ".join(sys.argv),
    }
    runs = []
    for name in names:
        for hog in [0, args.hog] if args.hog else [0]:
            runs.append(run_one(OPERATORS[name], settings, hog, args.keep))

    def find(name: str, hog: int) -> dict[str, Any] | None:
        return next((r for r in runs if r["operator"] == name and r["hog"] == hog), None)

    report["ratios"] = {}
    for hog in [0, args.hog] if args.hog else [0]:
        ours, theirs = find("ours", hog), find("kubeflow", hog)
        if ours and theirs:
            report["ratios"][f"ours/kubeflow{f' +hog {hog}' if hog else ''}"] = ratios(ours, theirs)
    if args.hog:
        report["under_load"] = {}
        for name in names:
            loaded, unloaded = find(name, args.hog), find(name, 0)
            a = (loaded or {}).get("all_succeeded_s")
            b = (unloaded or {}).get("all_succeeded_s")
            report["under_load"][name] = f"{a / b:.2f}x ({a:.1f} s / {b:.1f} s)" if a and b else "did not converge"
    report["runs"] = runs
    print_report(runs, report)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1, default=str))
        print(f"report written to {args.out}")
    return 1 if any(r.get("error") or r.get("timed_out") for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
