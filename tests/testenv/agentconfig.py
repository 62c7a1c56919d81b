"""Settings of the node agent, shared by the process that starts it and the agent itself."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Mode = Literal["process", "simulate"]


@dataclass
class NodeSpec:
    """One Node the agent registers and keeps Ready.

    cpu, memory: capacity (= allocatable) as Kubernetes quantities.
    gpus: `nvidia.com/gpu` capacity.
    labels: added to the standard kubernetes.io/hostname, os and arch labels.
    taints: e.g. [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}].
    extra_resources: other extended resources, e.g. {"rdma/ib": "4"}.
    """

    name: str
    cpu: str = "32"
    memory: str = "256Gi"
    gpus: int = 8
    pods: int = 110
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)
    extra_resources: dict[str, str] = field(default_factory=dict)


@dataclass
class SimulateSettings:
    """The schedule of simulate mode, per pod; a pod's annotations may override it:
    `testenv.llmtrain.dev/run-seconds` and `testenv.llmtrain.dev/exit-code`.

    start_seconds: time spent Pending (ContainerCreating) before Running.
    run_seconds: time spent Running before the containers exit (never for
        restartPolicy Always).
    exit_code: what every container exits with (0: Succeeded, else Failed).
    """

    start_seconds: float = 0.5
    run_seconds: float = 2.0
    exit_code: int = 0


@dataclass
class NodeAgentSettings:
    """How the node agent runs.

    mode: "process" runs pods as local processes; "simulate" only walks their phases.
    pod_ip_prefix: pods get addresses <prefix>.x.y (x, y from 1 to 254); two agents
        running at once need different prefixes.
    heartbeat_seconds: how often Node leases are renewed.
    status_report_seconds: how often each Node's status conditions (Ready with a fresh
        lastHeartbeatTime) are posted besides; also at the first heartbeat after a renewal
        that was late (over half the lease's 40 s) or failed, when the node lifecycle
        controller may have marked the node NotReady. The kubelet's default is 5 min (its
        lease keeps the node alive meanwhile); tests are shorter-lived, so 1 min.
    restart_backoff_seconds: first delay before restarting a container (doubles, max 30s).
    die_with_parent: stop the agent when the process that started it dies.
    """

    mode: Mode = "process"
    simulate: SimulateSettings = field(default_factory=SimulateSettings)
    pod_ip_prefix: str = "127.0"
    heartbeat_seconds: float = 10.0
    status_report_seconds: float = 60.0
    restart_backoff_seconds: float = 1.0
    die_with_parent: bool = True


@dataclass
class AgentConfig:
    """Everything the agent process needs, written as JSON by `testenv.nodeagent`."""

    kubeconfig: Path
    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    host: str
    api_host: str
    api_port: int
    state_dir: Path
    ready_file: Path
    shim: Path
    venv_bin: Path
    nodes: list[NodeSpec]
    settings: NodeAgentSettings

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), default=str, indent=1))

    @classmethod
    def load(cls, path: Path) -> AgentConfig:
        raw: dict[str, Any] = json.loads(path.read_text())
        settings = raw.pop("settings")
        settings["simulate"] = SimulateSettings(**settings["simulate"])
        nodes = [NodeSpec(**n) for n in raw.pop("nodes")]
        paths = {k: Path(v) for k, v in raw.items() if k not in ("host", "api_host", "api_port")}
        return cls(
            **paths,
            host=raw["host"],
            api_host=raw["api_host"],
            api_port=raw["api_port"],
            nodes=nodes,
            settings=NodeAgentSettings(**settings),
        )
