"""`python -m testenv up|down|status`: the local cluster (see testenv.localcluster).

Run with `tests` on PYTHONPATH, as `make cluster-up` / `make cluster-down` do.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from testenv.localcluster import DEFAULT_DIR, NODE_KINDS, LocalClusterSettings, down, serve, status, up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testenv", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "serve"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="state, kubeconfig and logs")
    defaults = LocalClusterSettings()
    parser.add_argument(
        "--node-kind",
        choices=NODE_KINDS,
        default=defaults.node_kind,
        help="agent: pods as local processes; containers: real kubelets on containerd",
    )
    parser.add_argument("--nodes", type=int, default=defaults.nodes)
    parser.add_argument("--gpus", type=int, default=defaults.gpus, help="nvidia.com/gpu per node")
    parser.add_argument("--cpu", default=defaults.cpu)
    parser.add_argument("--memory", default=defaults.memory)
    parser.add_argument("--pod-ip-prefix", default=defaults.pod_ip_prefix)
    args = parser.parse_args(argv)
    settings = LocalClusterSettings(
        directory=args.dir.resolve(),
        node_kind=args.node_kind,
        nodes=args.nodes,
        gpus=args.gpus,
        cpu=args.cpu,
        memory=args.memory,
        pod_ip_prefix=args.pod_ip_prefix,
    )
    if args.command == "serve":
        serve(settings)
        return 0
    commands = {"up": up, "down": down, "status": status}
    return commands[args.command](settings)


if __name__ == "__main__":
    sys.exit(main())
