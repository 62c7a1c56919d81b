"""Entry point of the node agent process: `python -m testenv.agent CONFIG.json`."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from testenv.agent import logserver, nodes, provisioner
from testenv.agent.network import AddressPool, HostsFile
from testenv.agent.pods import PodManager
from testenv.agent.runtime import Runtime
from testenv.agentconfig import AgentConfig
from testenv.kubeapi import KubeAPI


def main(config_path: Path) -> None:
    config = AgentConfig.load(config_path)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    api = KubeAPI(config.kubeconfig, pool_size=64)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    runtime = Runtime(
        api=api,
        config=config,
        stop=stop,
        addresses=AddressPool(config.settings.pod_ip_prefix),
        hosts=HostsFile(config.state_dir / "hosts"),
    )
    server = logserver.serve(
        config.host,
        config.serving_cert,
        config.serving_key,
        config.ca_cert,
        lambda ns, pod, container: runtime.logs.get((ns, pod, container)),
    )
    port = int(server.server_address[1])
    for spec in config.nodes:
        nodes.register(api, spec, config.host, port)
        runtime.allocatable[spec.name] = {
            "cpu": spec.cpu, "memory": spec.memory, "ephemeral-storage": "1Ti",
        }  # fmt: skip
    names = [n.name for n in config.nodes]
    settings = config.settings
    nodes.Heartbeat(api, names, settings.heartbeat_seconds, settings.status_report_seconds, stop).start()
    provisioner.install_storage_class(api)
    provisioner.Provisioner(api, config.state_dir / "volumes", stop).start()
    manager = PodManager(runtime, set(names))
    threading.Thread(target=manager.run, name="pods", daemon=True).start()
    config.ready_file.write_text(f"{port}\n")
    print(f"node agent ready: {len(names)} nodes, mode {config.settings.mode}, kubelet port {port}", flush=True)
    stop.wait()
    print("node agent stopping", flush=True)
    manager.shutdown()
    server.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
