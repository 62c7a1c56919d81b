"""A real Kubernetes control plane and a process-running node agent for tests.

`ControlPlane` runs etcd, kube-apiserver, kube-controller-manager and kube-scheduler
(built into bin/ by `make testenv`); `NodeAgent` registers Nodes and runs the pods bound to
them as local processes (or only simulates them). `testenv.pytest_plugin` offers both as
session fixtures; `python -m testenv up|down|status` runs them as a local cluster.
"""

from testenv.controlplane import ControlPlane, ControlPlaneSettings
from testenv.nodeagent import NodeAgent, NodeAgentSettings, NodeSpec, SimulateSettings

__all__ = [
    "ControlPlane",
    "ControlPlaneSettings",
    "NodeAgent",
    "NodeAgentSettings",
    "NodeSpec",
    "SimulateSettings",
]
