"""sockspy under systemd's socket activation, as systemd runs it: the sockets at fd 3 and
up, LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES, READY=1 and STOPPING=1 on $NOTIFY_SOCKET; and
the refusal of plain tcp beyond loopback, for tcp:// fronts and inherited sockets."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.cli import docker
from support.daemon import DockerDaemon
from support.proxy import free_tcp_port

from .conftest import StartProxy

pytestmark = pytest.mark.e2e

# Runs in the child, then execs sockspy (same pid): argv is N, N descriptors, the names
# (colon-separated), then sockspy's arguments. The descriptors are moved to 3, 4, ... by
# way of high numbers, so that a source already at 3 or 4 is never overwritten.
_SYSTEMD = """
import fcntl, os, sys
count = int(sys.argv[1])
sources = [int(fd) for fd in sys.argv[2 : 2 + count]]
names = sys.argv[2 + count]
high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in sources]
for fd in sources:
    os.close(fd)
for index, fd in enumerate(high):
    os.dup2(fd, 3 + index, inheritable=True)
    os.close(fd)
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS=str(count), LISTEN_FDNAMES=names)
os.execv(sys.executable, [sys.executable, "-m", "sockspy", *sys.argv[3 + count :]])
"""


@pytest.fixture
def rundir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="sssd", dir="/tmp"))  # sun_path is 108 bytes
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def unix_listener(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen(16)
    return sock


def tcp_listener(host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(16)
    return sock


def activate(
    sockets: list[socket.socket],
    names: list[str],
    args: list[str],
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start `sockspy ARGS` with `sockets` passed the way systemd passes them."""
    fds = [str(s.fileno()) for s in sockets]
    cmd = [sys.executable, "-c", _SYSTEMD, str(len(sockets)), *fds, ":".join(names), *args]
    return subprocess.Popen(
        cmd,
        pass_fds=[s.fileno() for s in sockets],
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def serve_args(upstream: str, log: Path, *extra: str) -> list[str]:
    return ["serve", "-H", "fd://", "--upstream", upstream, "-c", "audit-only",
            "--log-format", "json", "--log-file", str(log), *extra]  # fmt: skip


def records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def wait_for(log: Path, event: str, timeout: float = 10) -> list[dict[str, Any]]:
    """The audit records once one is `event` (the log is written off the event loop)."""
    deadline = time.monotonic() + timeout
    while True:
        found = records(log) if log.exists() else []
        if any(r["event"] == event for r in found) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_socket_activation_with_names_and_notify(
    docker_daemon: DockerDaemon, rundir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    front = rundir / "docker.sock"
    with (
        unix_listener(front) as unix_sock,
        tcp_listener("127.0.0.1") as tcp_sock,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager,
    ):
        manager.bind(str(rundir / "notify"))
        manager.settimeout(30)
        port = tcp_sock.getsockname()[1]
        proc = activate(
            [unix_sock, tcp_sock],
            ["docker-proxy", "docker-tcp"],
            serve_args(docker_daemon.host, log),
            env={"NOTIFY_SOCKET": str(rundir / "notify")},
        )
        try:
            assert manager.recv(4096) == b"READY=1"
            listening = [
                r["address"] for r in wait_for(log, "upstream") if r["event"] == "listening"
            ]
            assert listening == ["fd://3 (docker-proxy)", "fd://4 (docker-tcp)"]
            for host in (f"unix://{front}", f"tcp://127.0.0.1:{port}"):
                result = docker(host, "version", "--format", "{{.Server.Version}}", timeout=60)
                assert result.stdout.strip()
            proc.send_signal(signal.SIGHUP)  # systemctl reload (ExecReload)
            reloading = manager.recv(4096).split(b"\n")
            assert reloading[0] == b"RELOADING=1" and reloading[1].startswith(b"MONOTONIC_USEC=")
            assert manager.recv(4096) == b"READY=1"
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        assert manager.recv(4096) == b"STOPPING=1"
    assert proc.returncode == 0, err.decode(errors="replace")
    fronts = {r["front"] for r in records(log) if r["event"] == "exchange"}
    assert fronts == {"fd://3 (docker-proxy)", "fd://4 (docker-tcp)"}


def test_inherited_plain_tcp_beyond_loopback_is_refused(
    docker_daemon: DockerDaemon, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    with tcp_listener("0.0.0.0") as sock:
        proc = activate([sock], ["docker-tcp"], serve_args(docker_daemon.host, log))
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    message = err.decode()
    assert "refusing to serve plain tcp on fd://3 (docker-tcp)" in message
    assert "--insecure-plain-tcp" in message and "--tlsverify" in message


def test_inherited_plain_tcp_beyond_loopback_serves_with_the_insecure_flag(
    docker_daemon: DockerDaemon, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    with tcp_listener("0.0.0.0") as sock:
        port = sock.getsockname()[1]
        proc = activate(
            [sock], ["docker-tcp"], serve_args(docker_daemon.host, log, "--insecure-plain-tcp")
        )
        try:
            result = docker(f"tcp://127.0.0.1:{port}", "version", "--format",
                            "{{.Server.Version}}", timeout=60)  # fmt: skip
            assert result.stdout.strip()
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode(errors="replace")


def test_plain_tcp_front_beyond_loopback_needs_the_insecure_flag(
    docker_daemon: DockerDaemon, start_sockspy: StartProxy
) -> None:
    port = free_tcp_port()
    refused = subprocess.run(
        [sys.executable, "-m", "sockspy", "serve", "-H", f"tcp://0.0.0.0:{port}",
         "--upstream", docker_daemon.host],
        capture_output=True, timeout=30, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert refused.returncode == 2
    assert b"--insecure-plain-tcp" in refused.stderr
    proxy = start_sockspy("-H", f"tcp://0.0.0.0:{port}", "--insecure-plain-tcp")
    result = docker(f"tcp://127.0.0.1:{port}", "ps", "-q", timeout=60)
    assert result.returncode == 0
    deadline = time.monotonic() + 10
    while not any(r["front"] == f"tcp://0.0.0.0:{port}" for r in proxy.exchanges()):
        assert time.monotonic() < deadline, proxy.audit_records()
        time.sleep(0.05)


def test_tls_front_beyond_loopback_needs_no_flag(start_sockspy: StartProxy, tmp_path: Path) -> None:
    certs = tmp_path / "tls"
    subprocess.run(
        [sys.executable, "-m", "sockspy", "certs", str(certs), "--san", "127.0.0.1",
         "--client", "alice"],
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_tcp_port()
    start_sockspy(
        "-H", f"tcp://0.0.0.0:{port}",
        "--tlsverify", "--tlscacert", str(certs / "ca.pem"),
        "--tlscert", str(certs / "server-cert.pem"), "--tlskey", str(certs / "server-key.pem"),
    )  # fmt: skip
    env = {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(certs / "alice")}
    result = docker(f"tcp://127.0.0.1:{port}", "ps", "-q", env=env, timeout=60)
    assert result.returncode == 0
