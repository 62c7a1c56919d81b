"""Recovery benchmark: how long a job takes to train again after a failure, restarting the
training processes in place (`runPolicy.recovery: InPlace`, the built-in trainer's default)
against restarting the whole gang (`recovery: Gang`, the only path before issue 16), in the
same run on the same machine.

The local cluster of the tests (`testenv`: the real control plane, the node agent running
pods as local processes on 2 nodes) and our operator as `tests/support/operator_fixture.py`
runs it, with the chart's scrape interval. Each scenario runs a 2-node job of the test
preset (a step logged every step, a checkpoint every 20) once per recovery mode; once it
has a checkpoint at step 40 or later, the failure is injected:

- **worker-killed**: SIGKILL to rank 1's training process (what the OOM killer does);
- **pod-deleted**: `kubectl delete pod <job>-node-1` (a node drained, a user's mistake): in
  place, that pod alone is replaced;
- **hung**: SIGSTOP to every training process, with `hangTimeoutSeconds: 20`.

Measured from rank 0's log (timestamps of the pods on this machine's clock): the recovery
time, from the failure to the first step completed after the resume, and the steps lost,
from the last step logged before the failure to the step resumed from.

    PYTHONPATH=tests .venv/bin/python bench/recovery.py [--scenarios worker-killed,hung] [--out r.json]

(`make bench-recovery`). A benchmark: it asserts no speed; it exits 1 only when a job does
not recover.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))

from support.chart_rbac import CHART_DIR, operator_rbac_objects, service_account_name  # noqa: E402
from support.crd_install import install_crd  # noqa: E402
from support.job_helpers import (  # noqa: E402
    get_job,
    submit,
    tiny_trainer_job,
    worker_pid,
    write_token_corpus,
)
from support.operator_fixture import RunningOperator  # noqa: E402
from testenv.controlplane import ControlPlane, ControlPlaneSettings  # noqa: E402
from testenv.nodeagent import NodeAgent, NodeSpec  # noqa: E402
from testenv.polling import eventually  # noqa: E402

OPERATOR_NAMESPACE = "llmtrain-system"
STEPS = 600
MODES = ("InPlace", "Gang")
_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \[rank 0\] INFO (.*)$")
_STEP = re.compile(r"^step (\d+)/")
_RESUMED = re.compile(r"^resumed from \S+ at step (\d+)")


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def kill_worker(cluster: ControlPlane, namespace: str, job: str) -> None:
    os.kill(worker_pid(job, 1), signal.SIGKILL)


def delete_pod(cluster: ControlPlane, namespace: str, job: str) -> None:
    cluster.kubectl("-n", namespace, "delete", "pod", f"{job}-node-1", "--wait=false")


def stop_every_worker(cluster: ControlPlane, namespace: str, job: str) -> None:
    for rank in (0, 1):
        os.kill(worker_pid(job, rank), signal.SIGSTOP)


SCENARIOS: dict[str, Callable[[ControlPlane, str, str], None]] = {
    "worker-killed": kill_worker,
    "pod-deleted": delete_pod,
    "hung": stop_every_worker,
}


def rank0_lines(cluster: ControlPlane, namespace: str, job: str) -> list[tuple[float, str]]:
    """(unix time, message) of rank 0's log lines in the current pod of rank 0."""
    text = cluster.kubectl("-n", namespace, "logs", f"{job}-node-0", check=False).stdout
    lines = []
    for raw in text.splitlines():
        match = _LINE.match(raw)
        if match:
            stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=UTC).timestamp()
            lines.append((stamp, match.group(2)))
    return lines


def run_scenario(
    cluster: ControlPlane, namespace: str, data: Path, scenario: str, mode: str, workdir: Path
) -> dict[str, Any]:
    name = f"{scenario}-{mode.lower()}"
    job = tiny_trainer_job(name, data, workdir / "ckpt" / name, steps=STEPS)
    job["spec"]["runPolicy"].update(recovery=mode, backoffLimit=3)
    job["spec"]["trainer"]["logging"]["interval"] = 1
    if scenario == "hung":
        job["spec"]["runPolicy"]["hangTimeoutSeconds"] = 20
    submit(cluster, namespace, job)

    def status() -> dict[str, Any]:
        return get_job(cluster, namespace, name).get("status") or {}

    eventually(
        lambda: status().get("phase") == "Running" and (status().get("checkpoint") or {}).get("step", 0) >= 40,
        timeout=300,
        interval=0.5,
        what=f"{name}: a checkpoint at step 40",
    )
    before = rank0_lines(cluster, namespace, name)
    failed_at = time.time()
    SCENARIOS[scenario](cluster, namespace, name)
    log(f"{name}: {scenario} at {failed_at:.1f}")
    resumed: tuple[float, int] | None = None
    first_step: float | None = None

    def recovered() -> bool:
        nonlocal resumed, first_step
        for stamp, message in rank0_lines(cluster, namespace, name):
            if stamp <= failed_at:
                continue
            match = _RESUMED.match(message)
            if match:
                resumed = (stamp, int(match.group(1)))
            elif resumed is not None and _STEP.match(message):
                first_step = stamp
                return True
        return False

    eventually(recovered, timeout=600, interval=0.5, what=f"{name}: the first step after the resume")
    assert resumed is not None and first_step is not None
    last_before = max((int(m.group(1)) for _, text in before if (m := _STEP.match(text))), default=0)
    final = eventually(
        lambda: status() if status().get("phase") in ("Succeeded", "Failed") else None,
        timeout=600,
        interval=1,
        what=f"{name}: the end",
    )
    result = {
        "scenario": scenario,
        "mode": mode,
        "recovery_seconds": round(first_step - failed_at, 2),
        "steps_lost": max(0, last_before - resumed[1]),
        "phase": final.get("phase"),
        "restarts": final.get("restarts", 0),
        "restarts_in_place": final.get("restartsInPlace", 0),
        "pod_replacements": final.get("podReplacements", 0),
        "attempt": final.get("attempt"),
    }
    log(f"{name}: {result}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated: " + ", ".join(SCENARIOS))
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")

    workdir = Path(tempfile.mkdtemp(prefix="bench-recovery-"))
    cluster = ControlPlane(ControlPlaneSettings(workdir=workdir / "cluster")).start()
    agent: NodeAgent | None = None
    operator: RunningOperator | None = None
    results: list[dict[str, Any]] = []
    try:
        agent = NodeAgent(cluster, [NodeSpec(f"node-{i}", gpus=8) for i in range(2)], mode="process").start()
        install_crd(cluster.kubectl)
        cluster.kubectl("create", "namespace", OPERATOR_NAMESPACE)
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(operator_rbac_objects(OPERATOR_NAMESPACE)))
        kubeconfig = cluster.service_account_kubeconfig(OPERATOR_NAMESPACE, service_account_name(), create=False)
        values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
        env = {"LLMTRAIN_SCRAPE_INTERVAL_SECONDS": str(values["operator"]["scrapeIntervalSeconds"])}
        operator = RunningOperator(kubeconfig, workdir / "operator.log", env=env).start()
        namespace = cluster.create_namespace("bench")
        data = write_token_corpus(workdir / "data").parent
        for scenario in scenarios:
            for mode in MODES:
                results.append(run_scenario(cluster, namespace, data, scenario, mode, workdir))
    finally:
        if operator is not None:
            operator.stop()
        if agent is not None:
            agent.stop()
        cluster.stop()

    print()
    print(
        "| failure | recovery | to the first step after the resume | steps lost "
        "| restarts (gang / in place) | pods replaced |"
    )
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['scenario']} | {r['mode']} | {r['recovery_seconds']:.1f} s | {r['steps_lost']} "
            f"| {r['restarts']} / {r['restarts_in_place']} | {r['pod_replacements']} |"
        )
    for scenario in scenarios:
        by_mode = {r["mode"]: r for r in results if r["scenario"] == scenario}
        if len(by_mode) == 2:
            ratio = by_mode["Gang"]["recovery_seconds"] / max(by_mode["InPlace"]["recovery_seconds"], 1e-9)
            print(f"{scenario}: in place recovers {ratio:.1f}x faster than the whole gang")
    if args.out:
        args.out.write_text(json.dumps({"results": results}, indent=2))
    return 0 if all(r["phase"] == "Succeeded" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
