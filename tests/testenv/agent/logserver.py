"""The kubelet's container log endpoint, so `kubectl logs [-f]` works through the API server.

Serves GET /containerLogs/{namespace}/{pod}/{container} over TLS with the query
parameters the API server passes on: follow, previous, tailLines, limitBytes. Only clients
with a certificate of the cluster CA (the API server's kubelet client cert) get in.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from testenv.agent.runtime import ContainerLog

FOLLOW_POLL_SECONDS = 0.1
Lookup = Callable[[str, str, str], ContainerLog | None]


def serve(host: str, cert: Path, key: Path, ca: Path, lookup: Lookup) -> ThreadingHTTPServer:
    """Start the endpoint on `host` at a free port (server.server_address[1]) in a thread."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    context.load_verify_locations(str(ca))
    context.verify_mode = ssl.CERT_REQUIRED

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            url = urlparse(self.path)
            parts = [unquote(p) for p in url.path.strip("/").split("/")]
            if parts == ["healthz"]:
                return self._send_text(200, "ok")
            if len(parts) != 4 or parts[0] != "containerLogs":
                return self._send_text(404, f"{url.path} is not served by the testenv node agent")
            log = lookup(parts[1], parts[2], parts[3])
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            path = None if log is None else log.previous if query.get("previous") == "true" else log.current
            if log is None or path is None or not path.exists():
                return self._send_text(404, f"container {parts[3]} of pod {parts[1]}/{parts[2]} has no logs here")
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                self._stream(path, log, query)
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                pass

        def _stream(self, path: Path, log: ContainerLog, query: dict[str, str]) -> None:
            limit = int(query["limitBytes"]) if "limitBytes" in query else None
            with open(path, "rb") as f:
                data = f.read()
                if "tailLines" in query:
                    lines = data.splitlines(keepends=True)
                    data = b"".join(lines[len(lines) - int(query["tailLines"]) :]) if int(query["tailLines"]) else b""
                sent = self._chunk(data, limit, 0)
                follow = query.get("follow") == "true" and path == log.current
                while follow and (limit is None or sent < limit):
                    more = f.read()
                    if more:
                        sent = self._chunk(more, limit, sent)
                    elif not log.running:
                        return
                    else:
                        time.sleep(FOLLOW_POLL_SECONDS)

        def _chunk(self, data: bytes, limit: int | None, sent: int) -> int:
            if limit is not None:
                data = data[: max(0, limit - sent)]
            if data:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            return sent + len(data)

        def _send_text(self, code: int, text: str) -> None:
            body = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the agent's log is for pod life cycles, not requests

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, name="log-server", daemon=True).start()
    return server
