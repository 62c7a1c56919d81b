"""`python -m llmtrain_operator`: run the operator with settings from the environment."""

from __future__ import annotations

import logging

import kopf

import llmtrain_operator.handlers  # noqa: F401  (importing registers the handlers with kopf)
from llmtrain_operator.settings import OperatorSettings


def main() -> None:
    """Run kopf until SIGTERM; it finishes the handlers in flight before it exits."""
    settings = OperatorSettings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.log_level != "DEBUG":
        # kopf logs every handler call; the reconciler logs what it changes.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    kopf.run(
        standalone=not settings.peering,
        peering_name=settings.peering or None,
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        liveness_endpoint=f"http://0.0.0.0:{settings.health_port}/healthz",
    )


if __name__ == "__main__":
    main()
