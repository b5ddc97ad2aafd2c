"""`serve` refuses plain tcp fronts beyond loopback, for tcp:// and for inherited fd:// sockets."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from sockspy.certs import write_certs
from sockspy.cli import main
from sockspy.core.serving.address import FdAddress, TcpAddress, UnixAddress
from sockspy.core.serving.exposure import TcpFront
from sockspy.io.exposure import planned_tcp_fronts


@pytest.fixture
def wildcard_socket() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen(1)
        yield sock


@pytest.mark.parametrize("listen", ["tcp://0.0.0.0:2375", "tcp://[::]:2375", "tcp://10.1.2.3"])
def test_plain_tcp_beyond_loopback_is_refused_with_the_ways_out(
    listen: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["serve", "-H", listen, "--upstream", "unix:///nonexistent/docker.sock"])
    err = capsys.readouterr().err
    assert code == 2
    assert "refusing to serve plain tcp" in err
    for hint in ("--tlsverify", "--tlscert", "tcp://127.0.0.1", "--insecure-plain-tcp"):
        assert hint in err


def test_an_inherited_tcp_socket_beyond_loopback_is_refused(
    wildcard_socket: socket.socket, capsys: pytest.CaptureFixture[str]
) -> None:
    fd = wildcard_socket.fileno()
    code = main(["serve", "-H", f"fd://{fd}", "--upstream", "unix:///nonexistent/docker.sock"])
    assert code == 2
    assert f"refusing to serve plain tcp on fd://{fd}" in capsys.readouterr().err
    # Looking at the socket left it as it was, for open_fronts.
    assert wildcard_socket.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)


def test_planned_fronts_are_the_tcp_ones_with_their_bound_host(
    wildcard_socket: socket.socket,
) -> None:
    fd = wildcard_socket.fileno()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix_sock:
        fronts = planned_tcp_fronts(
            [
                TcpAddress("127.0.0.1", 2375),
                UnixAddress("/run/x.sock"),
                FdAddress(fd),
                FdAddress(unix_sock.fileno()),
                FdAddress(987),  # not open: left for open_fronts to report
            ]
        )
    assert fronts == [
        TcpFront("tcp://127.0.0.1:2375", "127.0.0.1"),
        TcpFront(f"fd://{fd}", "0.0.0.0"),
    ]


def test_tls_without_client_certificates_beyond_loopback_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_certs(tmp_path, sans=["127.0.0.1"], clients=[])
    tls = ["--tls", "--tlscert", str(tmp_path / "server-cert.pem"),
           "--tlskey", str(tmp_path / "server-key.pem")]  # fmt: skip
    code = main(["serve", "-H", "tcp://0.0.0.0:2376", *tls, "--upstream", "unix:///nonexistent/d"])
    err = capsys.readouterr().err
    assert code == 2
    assert "refusing to serve TLS without client certificates on tcp://0.0.0.0:2376" in err
    assert "--tlsverify" in err
