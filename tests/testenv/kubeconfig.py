"""Writing kubeconfig files for the test control plane."""

from __future__ import annotations

from pathlib import Path

import yaml

from testenv.pki import CertPair


def write_kubeconfig(
    path: Path,
    *,
    server: str,
    ca: Path,
    user: str,
    client: CertPair | None = None,
    token: str | None = None,
    namespace: str = "default",
) -> Path:
    """A single-context kubeconfig named `testenv` authenticating by client cert or token."""
    credentials: dict[str, str] = {}
    if client is not None:
        credentials = {"client-certificate": str(client.cert), "client-key": str(client.key)}
    if token is not None:
        credentials = {"token": token}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "testenv", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": credentials}],
        "contexts": [
            {
                "name": "testenv",
                "context": {"cluster": "testenv", "user": user, "namespace": namespace},
            }
        ],
        "current-context": "testenv",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path
