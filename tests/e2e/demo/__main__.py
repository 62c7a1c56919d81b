"""`python -m e2e.demo [--keep] [--dir DIR]` (with `tests` on PYTHONPATH), or `make demo`;
`python -m e2e.demo down` stops what `--keep` left running."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from e2e.demo.operator_process import stop_previous
from e2e.demo.run import DemoOptions, run
from testenv.localcluster import DEFAULT_DIR, NODE_KINDS, LocalClusterSettings, down


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m e2e.demo", description="the main job end to end on the local cluster"
    )
    parser.add_argument("command", nargs="?", choices=["run", "down"], default="run")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="the local cluster's state, kubeconfig and logs")
    parser.add_argument("--keep", action="store_true", help="leave the cluster and the operator running")
    parser.add_argument(
        "--node-kind",
        choices=NODE_KINDS,
        default="agent",
        help="agent: pods as local processes, the operator as a process; containers: real kubelets, "
        "the images of our Dockerfiles, the operator installed with helm",
    )
    args = parser.parse_args(argv)
    directory = args.dir.resolve()
    if args.command == "down":
        stop_previous(directory)
        return down(LocalClusterSettings(directory=directory))
    return run(DemoOptions(directory=directory, keep=args.keep, node_kind=args.node_kind))


if __name__ == "__main__":
    sys.exit(main())
