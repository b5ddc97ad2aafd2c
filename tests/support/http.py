"""A minimal HTTP/1.1 client for either proxy front (keep-alive, one connection)."""

from __future__ import annotations

import http.client
import socket


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 30.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self._unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._unix_path)
        self.sock = sock


def connect(host: str, timeout: float = 30.0) -> http.client.HTTPConnection:
    """An HTTP connection to a DOCKER_HOST-style address ("unix://..." or "tcp://h:p")."""
    if host.startswith("unix://"):
        return UnixHTTPConnection(host.removeprefix("unix://"), timeout)
    if host.startswith("tcp://"):
        hostname, _, port = host.removeprefix("tcp://").rpartition(":")
        return http.client.HTTPConnection(hostname, int(port), timeout=timeout)
    raise ValueError(f"unsupported host {host!r}")


def post_context(host: str, target: str, archive: bytes) -> tuple[int, bytes]:
    """POST a build context (a tar) to `target`: the status and the whole answer."""
    conn = connect(host, timeout=120)
    try:
        conn.request("POST", target, body=archive, headers={"Content-Type": "application/x-tar"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()
