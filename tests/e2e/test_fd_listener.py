"""fd:// fronts: sockspy serves on a listening socket it inherited, as systemd passes one."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import docker
from support.daemon import DockerDaemon

pytestmark = pytest.mark.e2e

# Runs in the child: put the socket at fd 3 and set LISTEN_PID to the pid sockspy will
# have (exec keeps it), exactly as systemd's socket activation does.
_LAUNCHER = """
import os, sys
fd = int(sys.argv[1])
os.dup2(fd, 3)
os.close(fd)
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS="1", LISTEN_FDNAMES="docker")
os.execv(sys.executable, [sys.executable, "-m", "sockspy", *sys.argv[2:]])
"""


@pytest.fixture
def listening_socket() -> Iterator[tuple[socket.socket, str]]:
    rundir = tempfile.mkdtemp(prefix="ssfd", dir="/tmp")
    path = os.path.join(rundir, "activated.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(16)
    try:
        yield sock, path
    finally:
        sock.close()
        shutil.rmtree(rundir, ignore_errors=True)


def _serve_inherited(
    sock: socket.socket, upstream: str, log: Path, listen: str, systemd_env: bool
) -> subprocess.Popen[bytes]:
    args = [
        "serve",
        "-H",
        listen,
        "--upstream",
        upstream,
        "--log-format",
        "json",
        "--log-file",
        str(log),
    ]
    if systemd_env:
        cmd = [sys.executable, "-c", _LAUNCHER, str(sock.fileno()), *args]
    else:
        cmd = [sys.executable, "-m", "sockspy", *args]
    return subprocess.Popen(
        cmd, pass_fds=(sock.fileno(),), stdin=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


@pytest.mark.parametrize("systemd_env", [True, False], ids=["fd://", "fd://N"])
def test_inherited_listening_socket_serves_the_docker_cli(
    docker_daemon: DockerDaemon,
    listening_socket: tuple[socket.socket, str],
    tmp_path: Path,
    systemd_env: bool,
) -> None:
    sock, path = listening_socket
    log = tmp_path / "audit.jsonl"
    listen = "fd://" if systemd_env else f"fd://{sock.fileno()}"
    proc = _serve_inherited(sock, docker_daemon.host, log, listen, systemd_env)
    try:
        # The socket already listens: the CLI may connect before sockspy even runs.
        result = docker(f"unix://{path}", "version", "--format", "{{.Server.Version}}", timeout=60)
        assert result.stdout.strip()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode(errors="replace")
    records = [json.loads(line) for line in log.read_text().splitlines()]
    listening = [r["address"] for r in records if r["event"] == "listening"]
    assert listening == (["fd://3 (docker)"] if systemd_env else [f"fd://{sock.fileno()}"])
    assert any(r["event"] == "exchange" and r["endpoint"] == "system.version" for r in records)
