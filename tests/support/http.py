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
