"""Operating sockspy with the real CLI and dockerd: SIGHUP reload, the head timeout, the
admin address."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.cli import docker
from support.proxy import ProxyProcess, free_tcp_port

pytestmark = pytest.mark.e2e

StartProxy = Callable[..., ProxyProcess]

DENY_RUN = """\
mode = "enforce"

[[rules]]
name = "no-run"
action = "deny"
endpoints = ["container.create"]

[[rules]]
name = "the-rest"
action = "allow"
"""

ALLOW_ALL = """\
mode = "enforce"

[[rules]]
name = "everything"
action = "allow"
"""

BROKEN = """\
mode = "enforce"

[[rules]]
name = "typo"
action = "allow"
methodz = ["GET"]
"""


def wait_for(proxy: ProxyProcess, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for record in proxy.audit_records():
            if predicate(record):
                return record
        time.sleep(0.05)
    raise AssertionError(f"no such audit record; stderr:\n{proxy.stderr_tail()}")


def test_sighup_reloads_the_policy_and_a_broken_file_keeps_the_old_one(
    start_sockspy: StartProxy,
    tmp_path: Path,
    test_image: str,
    new_name: Callable[[], str],
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(DENY_RUN)
    proxy = start_sockspy(policy=str(policy))
    host = proxy.unix_host

    denied = docker(host, "run", "--rm", "--name", new_name(), test_image, "true", check=False)
    assert b"sockspy: denied by rule no-run" in denied.stderr, denied.stderr

    policy.write_text(ALLOW_ALL)
    proxy.proc.send_signal(signal.SIGHUP)
    wait_for(proxy, lambda r: r.get("event") == "policy_reload" and r.get("ok") is True)
    docker(host, "run", "--rm", "--name", new_name(), test_image, "true")

    policy.write_text(BROKEN)
    proxy.proc.send_signal(signal.SIGHUP)
    failed = wait_for(proxy, lambda r: r.get("event") == "policy_reload" and r.get("ok") is False)
    assert failed["problems"] == [f"{policy}:6: " + failed["problems"][0].split(": ", 1)[1]]
    assert "unknown key 'methodz'" in failed["problems"][0]
    docker(host, "run", "--rm", "--name", new_name(), test_image, "true")  # still allowed
    assert proxy.proc.poll() is None


def test_a_slowloris_head_is_cut_while_the_cli_is_served(start_sockspy: StartProxy) -> None:
    proxy = start_sockspy("--head-timeout", "1")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as slow:
        slow.connect(str(proxy.unix_path))
        started = time.monotonic()
        slow.sendall(b"GET /_ping HTTP/1.1\r\n")
        docker(proxy.unix_host, "version")  # served meanwhile
        slow.settimeout(10)
        answer = b""
        while chunk := slow.recv(65536):
            answer += chunk
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert 0.9 <= elapsed < 5
    wait_for(proxy, lambda r: r.get("event") == "exchange" and r.get("code") == "head_timeout")


def test_healthz_on_the_admin_address_reports_the_daemon_and_the_policy(
    start_sockspy: StartProxy,
) -> None:
    port = free_tcp_port()
    proxy = start_sockspy("--admin-listen", f"tcp://127.0.0.1:{port}", policy="readonly")
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as reply:
                health = json.loads(reply.read())
                break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    assert health["status"] == "ok" and health["upstream"]["reachable"] is True
    assert health["policy"]["source"] == "preset:readonly"
    # On the proxied front, /healthz is a Docker API path: the daemon has none (404).
    with socket.create_connection(("127.0.0.1", proxy.tcp_port), timeout=5) as front:
        front.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"\n"):
            answer += front.recv(65536)
    assert b"sockspy admin" not in answer and b'"upstream"' not in answer
    assert answer.startswith(b"HTTP/1.1 403 "), answer  # readonly: not an allowed endpoint
    exchange = wait_for(
        proxy, lambda r: r.get("event") == "exchange" and r.get("target") == "/healthz"
    )
    assert exchange["decision"] == "deny"


def test_a_restart_that_overlaps_the_old_instances_drain_keeps_the_new_socket(
    start_sockspy: StartProxy, docker_daemon: Any, tmp_path: Path
) -> None:
    old = start_sockspy()
    path = str(old.unix_path)
    # A stream keeps the old instance draining after SIGTERM, while the new one starts.
    events = subprocess.Popen(
        ["docker", "-H", old.unix_host, "events"], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    new: subprocess.Popen[bytes] | None = None
    try:
        wait_for(old, lambda r: r.get("endpoint") == "system.events")
        old.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _answers(path) and time.monotonic() < deadline:
            time.sleep(0.05)  # the old one stops accepting, and drains the stream
        new = subprocess.Popen(
            [sys.executable, "-m", "sockspy", "serve", "-H", f"unix://{path}",
             "--upstream", docker_daemon.host, "-c", "audit-only", "--log-format", "json",
             "--log-file", str(tmp_path / "new.jsonl")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        while not _answers(path) and time.monotonic() < deadline + 10:
            time.sleep(0.05)
        assert old.proc.poll() is None, "the stream should keep the old instance draining"
        events.terminate()  # the drain ends: the old instance exits
        assert old.proc.wait(timeout=30) == 0
        assert os.path.exists(path), "the old instance removed the new one's socket"
        assert docker(f"unix://{path}", "version", "--format", "{{.Server.Version}}").stdout
    finally:
        events.kill()
        if new is not None:
            new.terminate()
            assert new.wait(timeout=30) == 0


def _answers(path: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(path)
    except OSError:
        return False
    return True


def test_one_client_cannot_take_sockspy_to_its_open_file_limit(
    start_sockspy: StartProxy, docker_daemon: Any, test_image: str
) -> None:
    # 128 descriptors: the defaults allow 29 connections, 7 for one client (ip:127.0.0.1).
    proxy = start_sockspy(open_files=128)
    direct = docker_daemon.host
    target = docker(direct, "run", "-d", test_image, "sleep", "600").stdout.decode().strip()
    attach = (
        f"POST /v1.41/containers/{target}/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\n"
        "Host: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    ).encode()
    held = []
    try:
        for i in range(300):  # idle, an incomplete head, an abandoned half-closed hijack
            sock = socket.create_connection(("127.0.0.1", proxy.tcp_port), timeout=5)
            if i % 3 == 1:
                sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n")
            elif i % 3 == 2:
                sock.sendall(attach)
                sock.shutdown(socket.SHUT_WR)
            held.append(sock)
        # Everyone else is still served (the CLI on the unix front counts as uid:0).
        host = proxy.unix_host
        assert docker(host, "version", "--format", "{{.Server.Version}}", timeout=30).stdout
        assert docker(host, "run", "--rm", test_image, "echo", "served", timeout=60).stdout == (
            b"served\n"
        )
        refused = [r for r in proxy.audit_records() if r.get("event") == "connection_refused"]
        assert refused and {r["code"] for r in refused} == {"too_many_client_connections"}
    finally:
        for sock in held:
            sock.close()
        docker(direct, "rm", "-f", target)
