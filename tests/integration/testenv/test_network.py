"""Pods get their own loopback address and the cluster DNS names of a headless Service."""

from __future__ import annotations

from testenv import NodeAgent
from testenv.pytest_plugin import Kubectl
from testenv.testing import apply, python_pod, wait_phase

# Both servers listen on the wildcard address at the same port, as every job's rank 0 does.
SERVER = """
import socket, socketserver
class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(socket.gethostname().encode() + b':' + self.rfile.readline())
socketserver.TCPServer.allow_reuse_address = True
server = socketserver.TCPServer(('', 29500), Echo)
print('listening on', server.server_address, flush=True)
server.serve_forever()
"""

CLIENT = """
import socket, sys, time
ns = sys.argv[1]
for host in (f'server-a.echo.{ns}.svc', f'server-b.echo.{ns}.svc.cluster.local', 'server-a.echo'):
    for attempt in range(100):
        try:
            with socket.create_connection((host, 29500), timeout=2) as s:
                s.sendall(b'ping\\n')
                print(host, socket.gethostbyname(host), s.recv(100).decode().strip(), flush=True)
                break
        except OSError:
            time.sleep(0.1)
    else:
        sys.exit(f'cannot reach {host}')
"""


def test_pods_reach_each_other_by_dns_name_on_a_shared_port(
    node_agent: NodeAgent, kubectl: Kubectl, namespace: str
) -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "echo"},
        "spec": {"clusterIP": "None", "selector": {"app": "echo"}, "ports": [{"port": 29500}]},
    }
    pods = [
        python_pod(name, SERVER, hostname=name, subdomain="echo", metadata={"labels": {"app": "echo"}})
        for name in ("server-a", "server-b")
    ]
    client = python_pod("client", CLIENT, hostname="client", subdomain="echo")
    client["spec"]["containers"][0]["args"] = [namespace]
    apply(kubectl, service, *pods)
    ips = {}
    for pod in pods:
        name = pod["metadata"]["name"]
        ips[name] = wait_phase(kubectl, name, "Running")["status"]["podIP"]
    assert ips["server-a"] != ips["server-b"]
    apply(kubectl, client)
    wait_phase(kubectl, "client", "Succeeded", "Failed", timeout=60)
    lines = kubectl("logs", "client").stdout.splitlines()
    assert lines == [
        f"server-a.echo.{namespace}.svc {ips['server-a']} server-a:ping",
        f"server-b.echo.{namespace}.svc.cluster.local {ips['server-b']} server-b:ping",
        f"server-a.echo {ips['server-a']} server-a:ping",
    ]
    for name in ("server-a", "server-b"):
        assert f"listening on ('{ips[name]}', 29500)" in kubectl("logs", name).stdout


# torch's c10d store resolves names and binds the wildcard address from C++ (glibc), which
# only the podnet shim (not a Python patch) can redirect.
TCPSTORE = """
import datetime, os, sys
from torch.distributed import TCPStore
me, peer = sys.argv[1], sys.argv[2]
timeout = datetime.timedelta(seconds=30)
server = TCPStore(me, 29500, None, True, timeout=timeout, wait_for_workers=False)
TCPStore(peer, 29500, None, False, timeout=timeout).set('hello', os.environ['MY_IP'])
print('got hello from', server.get('hello').decode(), flush=True)
# Exit only once the peer is done with this pod's store.
TCPStore(peer, 29500, None, False, timeout=timeout).set('done', '1')
server.wait(['done'])
"""


def test_torch_tcp_stores_of_two_pods_share_a_port(node_agent: NodeAgent, kubectl: Kubectl, namespace: str) -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "job"},
        "spec": {"clusterIP": "None", "selector": {"app": "job"}, "publishNotReadyAddresses": True},
    }
    env = [{"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]
    pods = []
    names = ("rank-0", "rank-1")
    for me, peer in (("rank-0", f"rank-1.job.{namespace}.svc"), ("rank-1", f"rank-0.job.{namespace}.svc")):
        pod = python_pod(me, TCPSTORE, hostname=me, subdomain="job", metadata={"labels": {"app": "job"}})
        pod["spec"]["containers"][0].update(args=[f"{me}.job", peer], env=env)
        pods.append(pod)
    apply(kubectl, service, *pods)
    ips = {name: wait_phase(kubectl, name, "Succeeded", "Failed", timeout=90)["status"]["podIP"] for name in names}
    assert kubectl("logs", "rank-0").stdout.strip() == f"got hello from {ips['rank-1']}"
    assert kubectl("logs", "rank-1").stdout.strip() == f"got hello from {ips['rank-0']}"
