"""Find or start the Docker daemon that the end-to-end tests run against.

Order of preference:

1. ``DOCKER_HOST`` is set: use that daemon as it is (CI exports the one it started).
2. We are root and ``dockerd`` is on PATH: start a private daemon with its own data root,
   exec root and socket under a short directory in /tmp, and stop it at the end.
3. Neither: the caller skips the end-to-end tests, with the reason we give.

Why the paths are short: a unix socket path must fit in ``sun_path`` (108 bytes), and
dockerd puts containerd's sockets and the per-container shim sockets under the exec root,
so a long exec root breaks container start long before it breaks our own socket.

Running beside another dockerd on the same host: see the note above ``BRIDGE_PREFIX``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from support.http import connect

# How long a private daemon gets to answer /_ping (it starts its own containerd first).
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0

# Running beside another dockerd (measured with dockerd 20.10 on one host):
# - Defaults: both daemons adopt the same docker0 and each allocates from 172.17.0.0/16
#   on its own, so their containers get the same IP (172.17.0.2) on one bridge. The
#   tests pass, but a user's containers on the other daemon can lose traffic to ours.
# - ``--bridge=none``: dockerd *deletes* an existing docker0 at start, which breaks every
#   container start on the other daemon ("could not find bridge docker0").
# - Our own empty bridge (``ip link add NAME type bridge``) with ``--bridge=NAME``:
#   dockerd gives it the first free pool (172.18.0.0/16 beside docker0), leaves docker0
#   alone, and with ``--iptables=false`` leaves the other daemon's chains alone. We
#   delete the bridge after dockerd stops. This is what we do when ``ip`` is present.
BRIDGE_PREFIX = "spbr"  # interface names are at most 15 bytes


class DaemonUnavailable(Exception):
    """No daemon can be used or started here; the message says why."""


@dataclass(frozen=True)
class DockerDaemon:
    """A daemon the tests can reach directly (without the proxy)."""

    host: str  # "unix:///..." or "tcp://..." as DOCKER_HOST spells it
    started_here: bool

    @property
    def socket_path(self) -> str | None:
        """The filesystem path of the daemon's unix socket, if it listens on one."""
        if self.host.startswith("unix://"):
            return self.host.removeprefix("unix://")
        return None

    @functools.cached_property
    def engine(self) -> tuple[int, int]:
        """The engine's (major, minor) version, as ``GET /version`` says: where dockerd's
        own behaviour differs by version, a test's expectation asks this."""
        conn = connect(self.host, timeout=30)
        try:
            conn.request("GET", "/version")
            version = json.loads(conn.getresponse().read())["Version"]
        finally:
            conn.close()
        major, minor = version.split(".")[:2]
        return int(major), int(minor)


def ping_unix(path: str, timeout: float = 2.0) -> bool:
    """True if a daemon answers ``GET /_ping`` with 200 on the unix socket ``path``."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := sock.recv(4096):
                reply += chunk
    except OSError:
        return False
    return reply.startswith(b"HTTP/1.1 200") or reply.startswith(b"HTTP/1.0 200")


def daemon_from_environment() -> DockerDaemon | None:
    host = os.environ.get("DOCKER_HOST")
    if not host:
        return None
    return DockerDaemon(host=host, started_here=False)


@contextlib.contextmanager
def private_dockerd() -> Iterator[DockerDaemon]:
    """Start a throw-away dockerd, yield it once it answers /_ping, stop it afterwards."""
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise DaemonUnavailable("DOCKER_HOST is unset and dockerd is not on PATH")
    if os.geteuid() != 0:
        raise DaemonUnavailable("DOCKER_HOST is unset and starting dockerd needs root")

    rundir = Path(tempfile.mkdtemp(prefix="spd", dir="/tmp"))
    sock = rundir / "docker.sock"
    log_path = rundir / "dockerd.log"
    argv = [
        dockerd,
        "--data-root", str(rundir / "data"),
        "--exec-root", str(rundir / "x"),
        "--pidfile", str(rundir / "pid"),
        "-H", f"unix://{sock}",
    ]  # fmt: skip
    bridge = _create_bridge()
    if bridge is not None:
        argv += [f"--bridge={bridge}", "--iptables=false"]
    try:
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            _wait_for_ping(proc, str(sock), log_path)
            yield DockerDaemon(host=f"unix://{sock}", started_here=True)
        finally:
            stop_process(proc, STOP_TIMEOUT_S)
    finally:
        if bridge is not None:
            subprocess.run(["ip", "link", "del", bridge], check=False, capture_output=True)
        # The data root holds overlay mounts only while containers run; after a clean
        # stop it is plain files. Leave it if something is still mounted there.
        shutil.rmtree(rundir, ignore_errors=True)


def _create_bridge() -> str | None:
    """An empty bridge of our own for the private daemon, or None to use the defaults."""
    if shutil.which("ip") is None:
        return None
    name = f"{BRIDGE_PREFIX}{os.getpid() % 100000}"
    subprocess.run(["ip", "link", "del", name], check=False, capture_output=True)
    created = subprocess.run(
        ["ip", "link", "add", name, "type", "bridge"], check=False, capture_output=True
    )
    if created.returncode != 0:
        return None
    subprocess.run(["ip", "link", "set", name, "up"], check=True, capture_output=True)
    return name


def _wait_for_ping(proc: subprocess.Popen[bytes], sock: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DaemonUnavailable(
                f"dockerd exited with {proc.returncode} while starting:\n{_tail(log_path)}"
            )
        if ping_unix(sock):
            return
        time.sleep(0.2)
    stop_process(proc, STOP_TIMEOUT_S)
    raise DaemonUnavailable(
        f"dockerd did not answer /_ping within {START_TIMEOUT_S:.0f} s:\n{_tail(log_path)}"
    )


def stop_process(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM, wait; SIGKILL if it does not go. Returns the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"
