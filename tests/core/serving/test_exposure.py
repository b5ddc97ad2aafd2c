"""The plain-tcp exposure check: which hosts are loopback, and what the refusal says."""

from __future__ import annotations

import pytest

from sockspy.core.serving.exposure import TcpFront, exposed_fronts, is_loopback, refusal


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.0.0.53", "127.255.255.254", "::1", "[::1]", "localhost", "LocalHost",
     "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1"],
)  # fmt: skip
def test_loopback_hosts_are_recognised(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host",
    ["0.0.0.0", "::", "[::]", "10.0.0.1", "192.168.1.10", "fe80::1%eth0", "::ffff:10.0.0.1",
     "128.0.0.1", "docker.example", "localhost.example", "", "127.0.0.1.nip.io"],
)  # fmt: skip
def test_wildcards_other_addresses_and_names_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_only_fronts_beyond_loopback_are_exposed() -> None:
    fronts = [
        TcpFront("tcp://127.0.0.1:2375", "127.0.0.1"),
        TcpFront("tcp://0.0.0.0:2375", "0.0.0.0"),
        TcpFront("fd://4 (docker-tcp)", "::"),
        TcpFront("tcp://[::1]:2375", "::1"),
    ]
    assert [f.name for f in exposed_fronts(fronts)] == ["tcp://0.0.0.0:2375", "fd://4 (docker-tcp)"]


def test_refusal_names_the_fronts_and_every_way_out() -> None:
    message = refusal([TcpFront("tcp://0.0.0.0:2375", "0.0.0.0")])
    assert "tcp://0.0.0.0:2375" in message
    for hint in ("--tlsverify", "--tlscacert", "--tlscert", "--tlskey", "sockspy certs",
                 "tcp://127.0.0.1", "--insecure-plain-tcp"):  # fmt: skip
        assert hint in message
