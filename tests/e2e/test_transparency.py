"""sockspy forwards bytes unchanged: recorders on both sides see the same conversations."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest
from support.cli import docker
from support.daemon import DockerDaemon
from support.proxy import start_proxy
from support.recorder import Recorder

pytestmark = pytest.mark.e2e


OWN = b"\r\nHost: sockspy\r\n"  # the Host of the requests sockspy makes itself


def test_daemon_gets_exactly_the_client_bytes_and_the_client_exactly_the_daemon_bytes(
    docker_daemon: DockerDaemon, test_image: str, tmp_path: Path
) -> None:
    daemon_path = docker_daemon.socket_path
    if daemon_path is None:
        pytest.skip("the recorder needs a unix daemon socket")
    rundir = Path(tempfile.mkdtemp(prefix="ssr", dir="/tmp"))  # short: sun_path is 108 bytes
    behind = Recorder(str(rundir / "behind.sock"), daemon_path)
    proxy = start_proxy(f"unix://{behind.listen_path}", tmp_path / "proxy", ())
    front = Recorder(str(rundir / "front.sock"), str(proxy.unix_path))
    host = f"unix://{front.listen_path}"
    try:
        docker(host, "version")
        docker(host, "ps", "-a")
        docker(host, "images")
        ran = docker(
            host,
            "run",
            "--rm",
            "-i",
            test_image,
            "sh",
            "-c",
            "cat; echo done",
            input=b"through the tunnel\n" * 1000,
        )
        assert ran.stdout == b"through the tunnel\n" * 1000 + b"done\n"
        docker(host, "inspect", test_image)
    finally:
        deadline = time.monotonic() + 30
        while len(front.recordings) != len(behind.recordings) and time.monotonic() < deadline:
            time.sleep(0.1)
        proxy.stop()
        front.close()
        behind.close()
        shutil.rmtree(rundir, ignore_errors=True)
    client_side = front.pairs()
    # sockspy's own look-ups (how the attach session ended) are its connections, not the
    # client's: each is one GET it made itself, named by its Host header.
    own = [pair for pair in behind.pairs() if pair[0].startswith(b"GET ") and OWN in pair[0]]
    daemon_side = [pair for pair in behind.pairs() if pair not in own]
    assert all(up.count(b"\r\n\r\n") == 1 for up, _ in own), own
    assert len(client_side) >= 5
    assert client_side == daemon_side
    assert any(b"101 UPGRADED" in down for _, down in daemon_side)
