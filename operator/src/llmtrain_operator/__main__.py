"""`python -m llmtrain_operator`: run the operator with settings from the environment."""

from __future__ import annotations

import logging
import os
import zlib

import kopf

import llmtrain_operator.handlers  # noqa: F401  (importing registers the handlers with kopf)
from llmtrain_operator.settings import OperatorSettings


def peering_priority(pod_name: str) -> int:
    """A priority of its own for each replica: kopf pauses every peer when priorities tie."""
    return zlib.crc32(pod_name.encode()) % 1_000_000 + 1


def main() -> None:
    """Run kopf until SIGTERM; it finishes the handlers in flight before it exits."""
    settings = OperatorSettings.from_env()
    kopf.configure(
        debug=settings.log_level == "DEBUG",
        log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.FULL,
    )
    logging.getLogger().setLevel(settings.log_level)
    if settings.log_level != "DEBUG":
        # kopf logs every handler call; the reconciler logs what it changes.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    kopf.run(
        standalone=not settings.peering,
        peering_name=settings.peering or None,
        priority=peering_priority(os.environ.get("POD_ID", "")) if settings.peering else 0,
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        liveness_endpoint=f"http://0.0.0.0:{settings.health_port}/healthz",
    )


if __name__ == "__main__":
    main()
