"""A throw-away certificate authority for one control plane, made with the openssl CLI.

Keys are EC P-256: generating them is instantaneous, which keeps start-up fast.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

_DAYS = "30"
_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class CertPair:
    """A certificate and its private key (PEM files)."""

    cert: Path
    key: Path


class CertificateAuthority:
    """A self-signed CA in `directory` that issues server and client certificates."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.ca = CertPair(directory / "ca.crt", directory / "ca.key")
        _openssl(
            "req", "-x509", *_KEY, "-days", _DAYS, "-subj", "/CN=testenv-ca",
            "-keyout", self.ca.key, "-out", self.ca.cert,
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        )  # fmt: skip

    def issue(
        self,
        name: str,
        *,
        common_name: str,
        organization: str | None = None,
        ips: tuple[str, ...] = (),
        dns: tuple[str, ...] = (),
    ) -> CertPair:
        """A certificate signed by this CA; with SANs it is a server cert, else a client cert."""
        pair = CertPair(self.directory / f"{name}.crt", self.directory / f"{name}.key")
        subject = f"/CN={common_name}" + (f"/O={organization}" if organization else "")
        sans = [f"IP:{ip}" for ip in ips] + [f"DNS:{d}" for d in dns]
        usage = "serverAuth,clientAuth" if sans else "clientAuth"
        extra = ["-addext", "subjectAltName=" + ",".join(sans)] if sans else []
        _openssl(
            "req", "-x509", *_KEY, "-days", _DAYS, "-subj", subject,
            "-CA", self.ca.cert, "-CAkey", self.ca.key,
            "-keyout", pair.key, "-out", pair.cert,
            "-addext", "basicConstraints=critical,CA:FALSE",
            "-addext", "keyUsage=critical,digitalSignature,keyEncipherment",
            "-addext", f"extendedKeyUsage={usage}", *extra,
        )  # fmt: skip
        return pair

    def signing_key(self, name: str) -> CertPair:
        """A bare key pair (`cert` holds the public key), e.g. for service-account tokens."""
        pair = CertPair(self.directory / f"{name}.pub", self.directory / f"{name}.key")
        _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", pair.key)
        _openssl("ec", "-in", pair.key, "-pubout", "-out", pair.cert)
        return pair


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)
