"""dockerd's -H grammar."""

from __future__ import annotations

import pytest

from sockspy.core.serving.address import (
    AddressError,
    FdAddress,
    TcpAddress,
    UnixAddress,
    parse_listen_address,
    parse_upstream_address,
)


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("unix:///var/run/docker.sock", UnixAddress("/var/run/docker.sock")),
        ("tcp://127.0.0.1:2375", TcpAddress("127.0.0.1", 2375)),
        ("tcp://0.0.0.0:2376", TcpAddress("0.0.0.0", 2376)),
        ("tcp://localhost", TcpAddress("localhost", 2375)),
        ("tcp://[::1]:2375", TcpAddress("::1", 2375)),
        ("fd://", FdAddress(None)),
        ("fd://3", FdAddress(3)),
    ],
)
def test_listen_addresses_parse_like_dockerd(text: str, address: object) -> None:
    assert parse_listen_address(text) == address


@pytest.mark.parametrize(
    "text",
    ["/var/run/docker.sock", "unix://relative.sock", "tcp://:2375", "tcp://host:99999",
     "tcp://host:port", "fd://three", "http://host:2375", "unix:///" + "x" * 120,
     "tcp://[::1"],
)  # fmt: skip
def test_malformed_addresses_are_refused(text: str) -> None:
    with pytest.raises(AddressError):
        parse_listen_address(text)


def test_addresses_print_as_they_are_written() -> None:
    for text in [
        "unix:///run/d.sock",
        "tcp://127.0.0.1:2375",
        "tcp://[::1]:2375",
        "fd://",
        "fd://4",
    ]:
        assert str(parse_listen_address(text)) == text


def test_upstream_cannot_be_an_inherited_fd() -> None:
    with pytest.raises(AddressError):
        parse_upstream_address("fd://")
    assert parse_upstream_address("unix:///d.sock") == UnixAddress("/d.sock")
