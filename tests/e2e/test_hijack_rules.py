"""Hijack and pipelining rules, checked against the real daemon."""

from __future__ import annotations

import json
import re
import secrets
import socket
from collections.abc import Callable

import pytest
from support.cli import Docker, docker
from support.proxy import ProxyProcess

pytestmark = pytest.mark.e2e

StartProxy = Callable[..., ProxyProcess]


def _exchange(path: str, payload: bytes, expect_closed: bool = False) -> bytes:
    """Send raw bytes on one connection, return everything read until the reply settles."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(path)
        sock.sendall(payload)
        if not expect_closed:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


def test_detached_exec_works_although_it_sends_no_upgrade_header(
    sockspy: ProxyProcess, direct: Docker, test_image: str, new_name: Callable[[], str]
) -> None:
    name = new_name()
    direct("run", "-d", "--name", name, test_image, "sleep", "60")
    host = sockspy.unix_host
    docker(host, "exec", "-d", name, "touch", "/tmp/detached-ran")
    direct("exec", name, "sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do "
           "test -e /tmp/detached-ran && exit 0; sleep 0.2; done; exit 1")  # fmt: skip
    sockspy.stop()
    starts = [r for r in sockspy.exchanges() if r["endpoint"] == "exec.start"]
    assert starts and starts[0]["decision"] == "allow" and not starts[0]["upgraded"]


def test_attach_without_upgrade_is_refused_and_never_reaches_the_daemon(
    sockspy: ProxyProcess, direct: Docker, test_image: str, new_name: Callable[[], str]
) -> None:
    name = new_name()
    direct("run", "-d", "--name", name, test_image, "sleep", "60")
    reply = _exchange(
        str(sockspy.unix_path),
        f"POST /v1.41/containers/{name}/attach?stream=1&stdout=1 HTTP/1.1\r\n"
        "Host: api.moby.localhost\r\n\r\n".encode(),
    )
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request")
    assert b"Upgrade" in json.loads(body)["message"].encode()
    sockspy.stop()
    (record,) = [r for r in sockspy.exchanges() if r["endpoint"] == "container.attach"]
    assert record["decision"] == "reject"


def test_pipelined_denied_request_is_answered_in_order_and_creates_nothing(
    start_sockspy: StartProxy, direct: Docker, test_image: str
) -> None:
    proxy = start_sockspy("--deny-endpoint", "container.create")
    name = f"sockspy-e2e-pipe-{secrets.token_hex(4)}"
    body = json.dumps({"Image": test_image, "Cmd": ["true"]}).encode()
    ping = b"GET /v1.41/_ping HTTP/1.1\r\nHost: api.moby.localhost\r\n\r\n"
    create = (
        f"POST /v1.41/containers/create?name={name} HTTP/1.1\r\nHost: api.moby.localhost\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    reply = _exchange(str(proxy.unix_path), ping + create + ping)
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", reply)  # bodies ("OK") end without CRLF
    assert statuses == [b"200", b"403", b"200"]
    assert direct("container", "inspect", name, check=False).returncode != 0
