"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager
and kube-scheduler, with TLS, RBAC and signed service-account tokens.

    with ControlPlane() as cp:
        cp.kubectl("get", "namespaces")
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import shutil
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from testenv import procs
from testenv.kubeconfig import write_kubeconfig
from testenv.netns import NetworkNamespace
from testenv.netutil import free_port, http_ok, wait_until
from testenv.paths import binary
from testenv.pki import CertificateAuthority, CertPair

# What an operator under test does, and nothing else: the requests of every ServiceAccount
# outside kube-system (the controller manager's own accounts), at Metadata level (who, verb,
# resource, response code; no bodies). One line per request, two for a watch (when it starts
# and when it ends).
SERVICE_ACCOUNT_AUDIT_POLICY: dict[str, Any] = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "userGroups": ["system:serviceaccounts:kube-system"]},
        {"level": "Metadata", "userGroups": ["system:serviceaccounts"]},
        {"level": "None"},
    ],
}


@dataclass
class ControlPlaneSettings:
    """How to run the control plane.

    workdir: where certificates, etcd data, kubeconfigs and logs go; a fresh temporary
        directory (removed by `stop`) when None.
    host: the address every component listens on: loopback, or with `netns` an address the
        namespace has (pods then reach the API server through the `kubernetes` Service).
    netns: run every component inside this network namespace (a cluster with real nodes);
        the host then reaches the API server through a relay on loopback (`server`).
    service_cluster_ip_range: ClusterIPs of Services (virtual: nothing routes them).
    start_timeout: seconds to wait for each component to become ready.
    controllers: the --controllers of kube-controller-manager.
    verbosity: the --v of the Kubernetes components.
    die_with_parent: stop the components when the process that started them dies
        (false for the local cluster, whose starter exits at once).
    apiserver_args: extra kube-apiserver flags, e.g. ("--feature-gates=X=true",).
    audit_policy: an audit.k8s.io/v1 Policy; the API server then writes the events it
        selects to `ControlPlane.audit_log` (JSON lines), read with `audit_events`. None: no
        audit log. `SERVICE_ACCOUNT_AUDIT_POLICY` records the requests of ServiceAccounts.
    """

    workdir: Path | None = None
    host: str = "127.0.0.1"
    netns: NetworkNamespace | None = None
    service_cluster_ip_range: str = "10.0.0.0/24"
    start_timeout: float = 60.0
    controllers: str = "*"
    verbosity: int = 1
    die_with_parent: bool = True
    apiserver_args: tuple[str, ...] = field(default_factory=tuple)
    audit_policy: dict[str, Any] | None = None


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler, started by `start`."""

    def __init__(self, settings: ControlPlaneSettings | None = None) -> None:
        self.settings = settings or ControlPlaneSettings()
        self._owns_workdir = self.settings.workdir is None
        self.workdir = self.settings.workdir or Path(tempfile.mkdtemp(prefix="testenv-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.logs: dict[str, Path] = {}
        self.startup_seconds = 0.0
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._relays: list[subprocess.Popen[bytes]] = []
        self.ca: CertificateAuthority
        self.admin: CertPair
        self.kubelet_serving: CertPair
        self.port = 0
        self.api_port = 0
        self.kubeconfig_path = self.workdir / "kubeconfig"
        self.audit_log = self.workdir / "logs" / "audit.log"

    @property
    def server(self) -> str:
        """The API server URL for clients on the host (through the relay with `netns`)."""
        return f"https://127.0.0.1:{self.port}" if self.settings.netns else self.inner_server

    @property
    def inner_server(self) -> str:
        """The API server URL for the components and nodes next to it."""
        return f"https://{self.settings.host}:{self.api_port}"

    @property
    def ca_cert(self) -> Path:
        """The cluster CA certificate (PEM)."""
        return self.ca.ca.cert

    def start(self) -> ControlPlane:
        """Start every component and return once the API server serves and controllers run."""
        began = time.monotonic()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _start(self) -> None:
        s = self.settings
        host = s.host
        pki = self.workdir / "pki"
        self.ca = CertificateAuthority(pki)
        serving = self.ca.issue(
            "apiserver",
            common_name="kube-apiserver",
            ips=(host, "127.0.0.1", _first_service_ip(s.service_cluster_ip_range)),
            dns=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 "kubernetes.default.svc.cluster.local"),
        )  # fmt: skip
        self.admin = self.ca.issue("admin", common_name="testenv-admin", organization="system:masters")
        kubelet_client = self.ca.issue(
            "kubelet-client", common_name="kube-apiserver-kubelet-client", organization="system:masters"
        )
        # Every node of the node agent reports `host` as its InternalIP.
        self.kubelet_serving = self.ca.issue("kubelet-serving", common_name="testenv-kubelet", ips=(host,))
        kcm = self.ca.issue("controller-manager", common_name="system:kube-controller-manager")
        scheduler = self.ca.issue("scheduler", common_name="system:kube-scheduler")
        sa = self.ca.signing_key("service-account")

        if s.netns:
            # A namespace of its own has every port free.
            etcd_port, peer_port, self.api_port, self.port = 2379, 2380, 6443, free_port()
        else:
            etcd_port, peer_port, self.api_port = free_port(host), free_port(host), free_port(host)
            self.port = self.api_port
        etcd_url = f"http://{host}:{etcd_port}"
        self._spawn(
            "etcd",
            binary("etcd"),
            "--name=testenv",
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls=http://{host}:{peer_port}",
            f"--initial-advertise-peer-urls=http://{host}:{peer_port}",
            f"--initial-cluster=testenv=http://{host}:{peer_port}",
            # Test data is disposable; fsync would dominate every write.
            "--unsafe-no-fsync",
            "--log-level=warn",
        )
        wait_until(lambda: self._http_ok(f"{etcd_url}/health"), s.start_timeout, "etcd")

        audit_args: list[str] = []
        if s.audit_policy is not None:
            policy = self.workdir / "audit-policy.json"
            policy.write_text(json.dumps(s.audit_policy))
            # Blocking mode: an event is in the file when the response has been sent.
            audit_args = [
                f"--audit-policy-file={policy}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-format=json",
                "--audit-log-mode=blocking",
            ]

        self._spawn(
            "kube-apiserver",
            binary("kube-apiserver"),
            f"--etcd-servers={etcd_url}",
            f"--bind-address={host}",
            f"--advertise-address={host}",
            f"--secure-port={self.api_port}",
            f"--tls-cert-file={serving.cert}",
            f"--tls-private-key-file={serving.key}",
            f"--client-ca-file={self.ca.ca.cert}",
            "--authorization-mode=Node,RBAC",
            # OwnerReferencesPermissionEnforcement, as hardened clusters (OpenShift) run it:
            # blockOwnerDeletion on a child needs `update` on its owner's finalizers.
            "--enable-admission-plugins=NodeRestriction,OwnerReferencesPermissionEnforcement",
            "--allow-privileged=true",
            f"--service-cluster-ip-range={s.service_cluster_ip_range}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={sa.cert}",
            f"--service-account-signing-key-file={sa.key}",
            f"--kubelet-client-certificate={kubelet_client.cert}",
            f"--kubelet-client-key={kubelet_client.key}",
            f"--kubelet-certificate-authority={self.ca.ca.cert}",
            "--kubelet-preferred-address-types=InternalIP",
            # The reconciler refuses loopback addresses; there pods reach the API server directly.
            f"--endpoint-reconciler-type={'lease' if s.netns else 'none'}",
            "--profiling=false",
            f"--v={s.verbosity}",
            *audit_args,
            *s.apiserver_args,
        )
        if s.netns:
            self._relays = s.netns.relay(f"{host}:{self.api_port}", self.port, self.workdir / "logs" / "relay.log")
        write_kubeconfig(self.kubeconfig_path, server=self.server, ca=self.ca.ca.cert, user="admin", client=self.admin)
        wait_until(lambda: self._api_ok("/readyz"), s.start_timeout, "kube-apiserver /readyz")

        kcm_kubeconfig = write_kubeconfig(
            self.workdir / "controller-manager.kubeconfig",
            server=self.inner_server, ca=self.ca.ca.cert, user="controller-manager", client=kcm,
        )  # fmt: skip
        self._spawn(
            "kube-controller-manager",
            binary("kube-controller-manager"),
            f"--kubeconfig={kcm_kubeconfig}",
            f"--controllers={s.controllers}",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={sa.key}",
            f"--root-ca-file={self.ca.ca.cert}",
            f"--cluster-signing-cert-file={self.ca.ca.cert}",
            f"--cluster-signing-key-file={self.ca.ca.key}",
            "--leader-elect=false",
            "--secure-port=0",
            f"--v={s.verbosity}",
        )
        scheduler_kubeconfig = write_kubeconfig(
            self.workdir / "scheduler.kubeconfig",
            server=self.inner_server, ca=self.ca.ca.cert, user="scheduler", client=scheduler,
        )  # fmt: skip
        self._spawn(
            "kube-scheduler",
            binary("kube-scheduler"),
            f"--kubeconfig={scheduler_kubeconfig}",
            "--leader-elect=false",
            "--secure-port=0",
            f"--v={s.verbosity}",
        )
        # The default ServiceAccount appears once the controllers run with their credentials.
        wait_until(
            lambda: self._api_ok("/api/v1/namespaces/default/serviceaccounts/default"),
            s.start_timeout,
            "kube-controller-manager (the default ServiceAccount)",
        )

    def stop(self) -> None:
        """Stop every component (newest first) and remove the temporary work directory."""
        for relay in self._relays:
            procs.stop(relay)
        for name in reversed(list(self._procs)):
            procs.stop(self._procs.pop(name))
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = 60,
        kubeconfig: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this cluster (admin unless `kubeconfig` is given)."""
        argv = [str(binary("kubectl")), f"--kubeconfig={kubeconfig or self.kubeconfig_path}", *args]
        result = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise subprocess.CalledProcessError(result.returncode, argv, result.stdout, result.stderr)
        return result

    def kubectl_json(self, *args: str) -> dict[str, object]:
        """`kubectl <args> -o json`, parsed."""
        parsed: dict[str, object] = json.loads(self.kubectl(*args, "-o", "json").stdout)
        return parsed

    def create_namespace(self, prefix: str = "t") -> str:
        """A new namespace with a random suffix, returned once its default ServiceAccount exists."""
        name = f"{prefix[:50].rstrip('-').lower()}-{secrets.token_hex(3)}"
        self.kubectl("create", "namespace", name)
        wait_until(
            lambda: self._api_ok(f"/api/v1/namespaces/{name}/serviceaccounts/default"),
            self.settings.start_timeout,
            f"the default ServiceAccount of namespace {name}",
        )
        return name

    def service_account_kubeconfig(
        self, namespace: str, name: str, *, create: bool = True, duration: str = "24h"
    ) -> Path:
        """A kubeconfig that authenticates as ServiceAccount `namespace/name` with a token from
        the TokenRequest API, so RBAC applies to whoever uses it. Creates the account if asked."""
        if create:
            exists = self.kubectl("get", "serviceaccount", name, "-n", namespace, check=False)
            if exists.returncode != 0:
                self.kubectl("create", "serviceaccount", name, "-n", namespace)
        token = self.kubectl("create", "token", name, "-n", namespace, f"--duration={duration}").stdout
        return write_kubeconfig(
            self.workdir / f"sa-{namespace}-{name}.kubeconfig",
            server=self.server,
            ca=self.ca.ca.cert,
            user=f"system:serviceaccount:{namespace}:{name}",
            token=token.strip(),
            namespace=namespace,
        )

    def audit_mark(self) -> int:
        """Where the audit log ends now: pass it to `audit_events` for the events after it."""
        return self.audit_log.stat().st_size if self.audit_log.exists() else 0

    def audit_events(self, since: int = 0) -> list[dict[str, Any]]:
        """The audit events written after `since` (an `audit_mark`), oldest first; needs
        `ControlPlaneSettings.audit_policy`."""
        if self.settings.audit_policy is None:
            raise RuntimeError("this control plane writes no audit log (ControlPlaneSettings.audit_policy)")
        if not self.audit_log.exists():
            return []
        with self.audit_log.open("rb") as log:
            log.seek(since)
            text = log.read()
        # A line still being written has no newline yet: it belongs to the next read.
        complete = text[: text.rfind(b"\n") + 1]
        return [json.loads(line) for line in complete.splitlines() if line.strip()]

    def log_tails(self, lines: int = 40) -> dict[str, str]:
        """The end of each component's log, for reports of failing tests."""
        return {name: procs.tail(path, lines) for name, path in self.logs.items()}

    def _spawn(self, name: str, *argv: str | Path) -> None:
        log = self.workdir / "logs" / f"{name}.log"
        log.parent.mkdir(exist_ok=True)
        self.logs[name] = log
        self._procs[name] = procs.spawn(
            argv, log, die_with_parent=self.settings.die_with_parent, netns=self.settings.netns
        )

    def _http_ok(self, url: str) -> bool:
        if self.settings.netns is None:
            return http_ok(url)
        probe = self.settings.netns.run("curl", "-sf", "-o", "/dev/null", "--max-time", "2", url, check=False)
        return probe.returncode == 0

    def _api_ok(self, path: str) -> bool:
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{procs.tail(self.logs[name])}")
        ctx = ssl.create_default_context(cafile=str(self.ca.ca.cert))
        ctx.load_cert_chain(str(self.admin.cert), str(self.admin.key))
        return http_ok(self.server + path, ctx)


def _first_service_ip(cidr: str) -> str:
    return str(next(ipaddress.ip_network(cidr).hosts()))
