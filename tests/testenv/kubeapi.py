"""A small thread-safe REST client for the API server that works on plain dicts.

The node agent handles hundreds of pods in simulate mode; plain JSON keeps it fast and its
code close to the API documentation. It reads the kubeconfigs `testenv.kubeconfig` writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import urllib3
import yaml

Obj = dict[str, Any]


class ApiError(Exception):
    """A non-2xx answer of the API server."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"{status}: {body[:500]}")
        self.status = status
        self.body = body


class KubeAPI:
    """GET/POST/PATCH/PUT/DELETE and watches on API paths, e.g. "/api/v1/nodes"."""

    def __init__(self, kubeconfig: Path, pool_size: int = 32) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        self.server: str = cluster["server"]
        self._headers = {"Accept": "application/json"}
        if "token" in user:
            self._headers["Authorization"] = f"Bearer {user['token']}"
        self._http = urllib3.PoolManager(
            maxsize=pool_size,
            cert_reqs="CERT_REQUIRED",
            ca_certs=cluster["certificate-authority"],
            cert_file=user.get("client-certificate"),
            key_file=user.get("client-key"),
        )

    def request(
        self,
        method: str,
        path: str,
        body: Obj | None = None,
        *,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> Obj:
        """One request; `accept` may ask for another representation (e.g. metadata only)."""
        headers = {**self._headers, "Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        url = self.server + path + ("?" + urlencode(params) if params else "")
        response = self._http.request(
            method,
            url,
            body=json.dumps(body) if body is not None else None,
            headers=headers,
            timeout=urllib3.Timeout(connect=5, read=30),
        )
        text = response.data.decode()
        if response.status >= 300:
            raise ApiError(response.status, text)
        result: Obj = json.loads(text) if text else {}
        return result

    def get(self, path: str, **params: str) -> Obj:
        return self.request("GET", path, params=params or None)

    def create(self, path: str, body: Obj) -> Obj:
        return self.request("POST", path, body)

    def merge_patch(self, path: str, body: Obj) -> Obj:
        return self.request("PATCH", path, body, content_type="application/merge-patch+json")

    def delete(self, path: str, body: Obj | None = None) -> Obj:
        return self.request("DELETE", path, body)

    def watch(
        self, path: str, resource_version: str, timeout_seconds: int = 60, accept: str = "application/json"
    ) -> Iterator[Obj]:
        """Events ({"type", "object"}) of a watch from `resource_version` until it times out."""
        response = self._http.request(
            "GET",
            self.server + path,
            fields={
                "watch": "true",
                "resourceVersion": resource_version,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": str(timeout_seconds),
            },
            headers={**self._headers, "Accept": accept},
            preload_content=False,
            timeout=urllib3.Timeout(connect=5, read=timeout_seconds + 10),
        )
        try:
            if response.status >= 300:
                raise ApiError(response.status, response.read().decode())
            buffer = b""
            for chunk in response.stream(64 * 1024):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
        finally:
            response.release_conn()
