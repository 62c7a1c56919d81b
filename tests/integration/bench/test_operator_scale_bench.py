"""The operator scale benchmark on a tiny size: it runs our operator end to end on its own
cluster and its report is whole. No timing is asserted (a benchmark is not a speed test);
this keeps `bench/operator_scale.py` working as the operator changes, and checks the request
economy it reports (the Kubeflow half needs `make kubeflow-operator` and is left out)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
JOBS, PODS_PER_JOB = 3, 8


def test_the_benchmark_runs_our_operator_and_reports_every_figure(tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    command = [
        sys.executable, str(REPO_ROOT / "bench" / "operator_scale.py"), "--jobs", str(JOBS), "--operators", "ours",
        "--nodes", "2", "--run-seconds", "2", "--timeout", "300", "--out", str(report_path),
    ]  # fmt: skip
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    (run,) = json.loads(report_path.read_text())["runs"]
    assert (run["operator"], run["jobs_succeeded"], run["jobs_failed"]) == ("ours", JOBS, 0), run
    assert run["pods_seen"] == JOBS * PODS_PER_JOB
    assert run["requests_by_verb_resource"]["create pods"] == JOBS * PODS_PER_JOB
    assert run["requests_by_verb_resource"]["create services"] == JOBS
    assert run["job_gets_per_job"] == 0
    assert not run["request_errors"], run["request_errors"]
    for figure in ("create_to_pods_p50_s", "create_to_pods_p99_s", "all_running_s", "all_succeeded_s"):
        assert run[figure] is not None and run[figure] > 0, (figure, run)
    assert run["rss_peak_mb"] > 0 and run["cpu_s"] > 0
