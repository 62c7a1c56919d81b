"""The node agent runs pods as local processes the way a kubelet would."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

from testenv import NodeAgent
from testenv.pytest_plugin import Kubectl
from testenv.testing import apply, eventually, get, python_pod, wait_phase


def test_nodes_are_ready_with_gpus(node_agent: NodeAgent, kubectl: Kubectl) -> None:
    for name in node_agent.node_names():
        node = get(kubectl, "node", name)
        assert node["status"]["allocatable"]["nvidia.com/gpu"] == "8"
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True"


def test_exit_code_is_reported(node_agent: NodeAgent, kubectl: Kubectl) -> None:
    apply(kubectl, python_pod("exit3", "import sys; sys.exit(3)"))
    pod = wait_phase(kubectl, "exit3", "Succeeded", "Failed")
    assert pod["status"]["phase"] == "Failed"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 3
    assert terminated["reason"] == "Error"
    ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "PodCompleted")
    assert pod["spec"]["nodeName"] in node_agent.node_names()


def test_env_sees_own_ip_and_config_map_key(node_agent: NodeAgent, kubectl: Kubectl) -> None:
    kubectl("create", "configmap", "settings", "--from-literal=greeting=hello")
    env = [
        {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "greeting"}}},
        {"name": "GPUS", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        {"name": "COMBINED", "value": "$(GREETING)-$(MY_IP)"},
    ]
    code = "import os; print(os.environ['MY_IP'], os.environ['GREETING'], os.environ['COMBINED'])"
    apply(kubectl, python_pod("env", code, container={"env": env}))
    pod = wait_phase(kubectl, "env", "Succeeded", "Failed")
    ip = pod["status"]["podIP"]
    assert ip.startswith("127.0.") and ip != "127.0.0.1"
    assert kubectl("logs", "env").stdout.split() == [ip, "hello", f"hello-{ip}"]


def test_kubectl_logs_and_follow(node_agent: NodeAgent, kubectl: Kubectl) -> None:
    code = "import time\nfor i in range(5):\n    print('line', i, flush=True)\n    time.sleep(0.3)"
    apply(kubectl, python_pod("printer", code))
    wait_phase(kubectl, "printer", "Running", "Succeeded")
    followed = kubectl("logs", "-f", "printer", timeout=30).stdout
    assert followed.splitlines() == [f"line {i}" for i in range(5)]
    wait_phase(kubectl, "printer", "Succeeded")
    assert kubectl("logs", "printer", "--tail=2").stdout.splitlines() == ["line 3", "line 4"]


def test_deleting_a_running_pod_stops_its_process(node_agent: NodeAgent, kubectl: Kubectl, tmp_path: Path) -> None:
    # The process ignores SIGTERM, so the agent must SIGKILL it after the grace period.
    code = (
        "import os, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "open('/testenv-sleeper/pid', 'w').write(str(os.getpid()))\n"
        "time.sleep(600)"
    )
    volumes = [{"name": "data", "hostPath": {"path": str(tmp_path)}}]
    mounts = [{"name": "data", "mountPath": "/testenv-sleeper"}]
    pod = python_pod(
        "sleeper", code, volumes=volumes, terminationGracePeriodSeconds=2, container={"volumeMounts": mounts}
    )
    apply(kubectl, pod)
    wait_phase(kubectl, "sleeper", "Running")
    pid = int(eventually(lambda: (tmp_path / "pid").read_text() if (tmp_path / "pid").exists() else None))
    assert _alive(pid)
    began = time.monotonic()
    kubectl("delete", "pod", "sleeper", "--wait=true", timeout=30)
    assert not _alive(pid)
    assert 1.5 < time.monotonic() - began < 15
    assert not Path("/testenv-sleeper").exists(), "the mount point made for the pod is removed"


def test_a_container_that_ends_takes_its_stopped_session_leaders_with_it(
    node_agent: NodeAgent, kubectl: Kubectl, tmp_path: Path
) -> None:
    # torchrun starts each worker in a session of its own; a kubelet kills them with the
    # container's cgroup however they are stuck, here stopped.
    child = (
        "import os, signal; open('/testenv-stopped/pid', 'w').write(str(os.getpid())); "
        "os.kill(os.getpid(), signal.SIGSTOP)"
    )
    code = (
        "import os, subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', {child!r}], start_new_session=True)\n"
        "while not os.path.exists('/testenv-stopped/pid'):\n"
        "    time.sleep(0.1)\n"
    )
    volumes = [{"name": "data", "hostPath": {"path": str(tmp_path)}}]
    mounts = [{"name": "data", "mountPath": "/testenv-stopped"}]
    apply(kubectl, python_pod("leaver", code, volumes=volumes, container={"volumeMounts": mounts}))
    assert wait_phase(kubectl, "leaver", "Succeeded", "Failed")["status"]["phase"] == "Succeeded"
    pid = int((tmp_path / "pid").read_text())
    eventually(lambda: not _alive(pid, zombie_is_dead=True), timeout=10, what=f"the stopped process {pid} to be killed")


def test_config_map_volume_and_working_dir(node_agent: NodeAgent, kubectl: Kubectl) -> None:
    kubectl("create", "configmap", "files", '--from-literal=config.json={"lr": 3}')
    code = "import json, os; print(os.getcwd(), json.load(open('/etc/testenv-demo/config.json'))['lr'])"
    pod = python_pod(
        "reader",
        code,
        volumes=[{"name": "config", "configMap": {"name": "files"}}, {"name": "work", "emptyDir": {}}],
        container={
            "workingDir": "/workspace-testenv",
            "volumeMounts": [
                {"name": "config", "mountPath": "/etc/testenv-demo", "readOnly": True},
                {"name": "work", "mountPath": "/workspace-testenv"},
            ],
        },
    )
    apply(kubectl, pod)
    wait_phase(kubectl, "reader", "Succeeded")
    assert kubectl("logs", "reader").stdout.split() == ["/workspace-testenv", "3"]


def test_missing_claim_leaves_pod_pending(node_agent: NodeAgent, kubectl: Kubectl) -> None:
    pod = python_pod(
        "claimless",
        "print('never')",
        volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "missing"}}],
        container={"volumeMounts": [{"name": "data", "mountPath": "/data"}]},
    )
    apply(kubectl, pod)

    def unschedulable() -> str | None:
        status = get(kubectl, "pod", "claimless").get("status", {})
        scheduled = next((c for c in status.get("conditions", []) if c["type"] == "PodScheduled"), None)
        return scheduled.get("message") if scheduled and scheduled["status"] == "False" else None

    assert 'persistentvolumeclaim "missing" not found' in eventually(unschedulable)
    assert get(kubectl, "pod", "claimless")["status"]["phase"] == "Pending"


def test_claim_is_provisioned_and_mounted(node_agent: NodeAgent, kubectl: Kubectl) -> None:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "ckpt"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    code = "open('/ckpt/step-1', 'w').write('saved'); print(open('/ckpt/step-1').read())"
    pod = python_pod(
        "saver",
        code,
        volumes=[{"name": "ckpt", "persistentVolumeClaim": {"claimName": "ckpt"}}],
        container={"volumeMounts": [{"name": "ckpt", "mountPath": "/ckpt"}]},
    )
    apply(kubectl, claim, pod)
    wait_phase(kubectl, "saver", "Succeeded", timeout=60)
    assert kubectl("logs", "saver").stdout.strip() == "saved"


def test_restart_policy_on_failure_restarts(node_agent: NodeAgent, kubectl: Kubectl, tmp_path: Path) -> None:
    code = (
        "import os, sys\n"
        "n = len(os.listdir('/data'))\n"
        "open(f'/data/run-{n}', 'w').close()\n"
        "print('run', n)\n"
        "sys.exit(0 if n == 1 else 1)"
    )
    pod = python_pod(
        "flaky",
        code,
        restartPolicy="OnFailure",
        volumes=[{"name": "data", "hostPath": {"path": str(tmp_path)}}],
        container={"volumeMounts": [{"name": "data", "mountPath": "/data"}]},
    )
    apply(kubectl, pod)
    status = wait_phase(kubectl, "flaky", "Succeeded", timeout=30)["status"]["containerStatuses"][0]
    assert status["restartCount"] == 1
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert kubectl("logs", "flaky").stdout.strip() == "run 1"
    assert kubectl("logs", "flaky", "--previous").stdout.strip() == "run 0"


def test_termination_message_is_the_file_the_container_wrote(node_agent: NodeAgent, kubectl: Kubectl) -> None:
    # Policy File is the default: the file's content, verbatim, and never the logs.
    code = (
        "import sys\n"
        "print('log line that must not be the message')\n"
        "open('/dev/termination-log', 'w').write('diverged: loss=nan\\nat step 42 \u2013 stop')\n"
        "sys.exit(1)"
    )
    apply(kubectl, python_pod("writes-file", code))
    terminated = _terminated(kubectl, "writes-file")
    assert terminated["exitCode"] == 1
    assert terminated["message"] == "diverged: loss=nan\nat step 42 \u2013 stop"


def test_termination_message_file_wins_over_logs(node_agent: NodeAgent, kubectl: Kubectl) -> None:
    code = (
        "import sys\n"
        "for i in range(10): print('noise', i)\n"
        "open('/dev/termination-log', 'w').write('from the file')\n"
        "sys.exit(2)"
    )
    apply(kubectl, python_pod("file-wins", code, container={"terminationMessagePolicy": "FallbackToLogsOnError"}))
    assert _terminated(kubectl, "file-wins")["message"] == "from the file"


def test_termination_message_falls_back_to_the_log_tail(node_agent: NodeAgent, kubectl: Kubectl) -> None:
    # Short lines: the last 80 lines. Long lines: of those, the last 2048 bytes (mid-line).
    short = "".join(f"line {i:03d}\n" for i in range(100))
    long = "".join(f"{i:03d} " + "x" * 95 + "\n" for i in range(50))
    fallback = {"terminationMessagePolicy": "FallbackToLogsOnError"}
    for name, text in (("short-lines", short), ("long-lines", long)):
        code = f"import sys; sys.stdout.write({text!r}); sys.exit(1)"
        apply(kubectl, python_pod(name, code, container=fallback))
    short_message = _terminated(kubectl, "short-lines")["message"]
    assert short_message == "".join(f"line {i:03d}\n" for i in range(20, 100))
    long_message = _terminated(kubectl, "long-lines")["message"]
    assert len(long) > 2048 and long_message == long[-2048:]


def test_no_termination_message_without_file_or_failure(node_agent: NodeAgent, kubectl: Kubectl) -> None:
    # FallbackToLogsOnError reads the log only on a non-zero exit; policy File never does.
    code = "import sys; print('output'); sys.exit(int(sys.argv[1]))"
    fallback = {"terminationMessagePolicy": "FallbackToLogsOnError", "args": ["0"]}
    apply(
        kubectl,
        python_pod("fallback-exit0", code, container=fallback),
        python_pod("file-exit1", code, container={"terminationMessagePolicy": "File", "args": ["1"]}),
    )
    succeeded = _terminated(kubectl, "fallback-exit0")
    assert succeeded["exitCode"] == 0 and "message" not in succeeded
    failed = _terminated(kubectl, "file-exit1")
    assert failed["exitCode"] == 1 and "message" not in failed


def test_custom_termination_message_path(node_agent: NodeAgent, kubectl: Kubectl) -> None:
    # A path whose directory does not exist on the host: made for the pod, gone after it.
    directory = Path(f"/tmp/testenv-term-{uuid.uuid4().hex[:8]}")
    code = f"open({str(directory / 'reason')!r}, 'w').write('custom path'); print('done')"
    apply(kubectl, python_pod("custom-path", code, container={"terminationMessagePath": str(directory / "reason")}))
    terminated = _terminated(kubectl, "custom-path")
    assert (terminated["exitCode"], terminated["message"]) == (0, "custom path")
    kubectl("delete", "pod", "custom-path", "--wait=true", timeout=30)
    assert not directory.exists(), "the mount target made for the pod is removed"


def test_termination_message_file_is_new_for_each_run(node_agent: NodeAgent, kubectl: Kubectl, tmp_path: Path) -> None:
    # The first run writes its file and fails; the restarted run writes nothing.
    code = (
        "import os, sys\n"
        "if not os.listdir('/data'):\n"
        "    open('/data/ran', 'w').close()\n"
        "    open('/dev/termination-log', 'w').write('first run failed')\n"
        "    sys.exit(1)\n"
    )
    pod = python_pod(
        "reruns",
        code,
        restartPolicy="OnFailure",
        volumes=[{"name": "data", "hostPath": {"path": str(tmp_path)}}],
        container={"volumeMounts": [{"name": "data", "mountPath": "/data"}]},
    )
    apply(kubectl, pod)
    status = wait_phase(kubectl, "reruns", "Succeeded", timeout=30)["status"]["containerStatuses"][0]
    assert status["lastState"]["terminated"]["message"] == "first run failed"
    assert "message" not in status["state"]["terminated"]


def test_termination_messages_share_the_pod_limit(node_agent: NodeAgent, kubectl: Kubectl) -> None:
    # 5000 bytes written: the file's last 4096, then 12 KiB / 4 containers = the first 3072 of those.
    text = "".join(f"{i:04d}" for i in range(1250))
    code = f"open('/dev/termination-log', 'w').write({text!r})"
    idle = [{"name": f"idle-{i}", "image": "python:3.11", "command": ["true"]} for i in range(3)]
    pod = python_pod("four-containers", code)
    pod["spec"]["containers"] += idle
    apply(kubectl, pod)
    assert _terminated(kubectl, "four-containers")["message"] == text[-4096:][:3072]


def _terminated(kubectl: Kubectl, pod: str, container: str = "main") -> dict[str, Any]:
    """The terminated state of a container of a pod that has finished."""
    statuses = wait_phase(kubectl, pod, "Succeeded", "Failed")["status"]["containerStatuses"]
    terminated: dict[str, Any] = next(s for s in statuses if s["name"] == container)["state"]["terminated"]
    return terminated


def _alive(pid: int, zombie_is_dead: bool = False) -> bool:
    """`zombie_is_dead`: an orphan's exit is reaped by whatever runs as PID 1, perhaps never."""
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (ProcessLookupError, FileNotFoundError):
        return False
    return not (zombie_is_dead and state == "Z")
