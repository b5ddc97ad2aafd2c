"""`bench/run.py --contender`: any proxy command runs beside the others, on a socket of
its own, forwarding to the same daemon."""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from targets import contender, parse_contender


def test_a_contender_is_a_name_and_a_command_with_placeholders() -> None:
    name, command = parse_contender("cetus=./cetusguard -frontend-addr {listen_url}")
    assert (name, command) == ("cetus", "./cetusguard -frontend-addr {listen_url}")
    for bad in ("nocommand", "=cmd {listen}", "sockspy=x {listen}", "a b=x {listen}", "x=cmd"):
        with pytest.raises(ValueError):
            parse_contender(bad)


def test_a_contender_runs_and_forwards_to_the_daemon_socket(tmp_path: Path) -> None:
    upstream = str(tmp_path / "daemon.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(upstream)
    server.listen()

    def answer() -> None:
        while True:
            conn, _ = server.accept()
            if conn.recv(1024):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
            conn.close()

    threading.Thread(target=answer, daemon=True).start()
    relay = "socat UNIX-LISTEN:{listen},fork UNIX-CONNECT:{upstream}"  # .ci/run installs it
    target = contender("relay", relay, upstream, tmp_path)
    assert target.command == [
        "socat", f"UNIX-LISTEN:{tmp_path}/relay.sock,fork", f"UNIX-CONNECT:{upstream}",
    ]  # fmt: skip
    target.start()
    try:
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(target.path)
            client.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n")
            assert client.recv(1024).endswith(b"OK")
    finally:
        target.stop()
