"""dockerd's socket address grammar, parsed once into values.

sockspy takes the same `-H` syntax as dockerd so that Docker users feel at home:

    unix:///var/run/docker.sock     a unix stream socket
    tcp://127.0.0.1:2375            a tcp socket ("tcp://host" means port 2375, as in the CLI)
    tcp://[::1]:2375                IPv6 literals in brackets
    fd://                           every socket systemd passed (LISTEN_FDS)
    fd://3                          one passed socket, by number
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TCP_PORT = 2375


class AddressError(ValueError):
    """An address that does not follow dockerd's `-H` grammar."""


@dataclass(frozen=True, slots=True)
class UnixAddress:
    path: str

    def __str__(self) -> str:
        return f"unix://{self.path}"


@dataclass(frozen=True, slots=True)
class TcpAddress:
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class FdAddress:
    """A socket inherited from systemd; `fd` None means all of them."""

    fd: int | None

    def __str__(self) -> str:
        return "fd://" if self.fd is None else f"fd://{self.fd}"


ListenAddress = UnixAddress | TcpAddress | FdAddress
UpstreamAddress = UnixAddress | TcpAddress


def parse_listen_address(text: str) -> ListenAddress:
    """Parse a front address (`-H`): unix, tcp or fd."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise AddressError(f"{text!r}: expected unix:///path, tcp://host:port or fd://")
    if scheme == "unix":
        return _parse_unix(text, rest)
    if scheme == "tcp":
        return _parse_tcp(text, rest)
    if scheme == "fd":
        if rest == "":
            return FdAddress(None)
        if not rest.isdigit():
            raise AddressError(f"{text!r}: fd:// takes a file descriptor number or nothing")
        return FdAddress(int(rest))
    raise AddressError(f"{text!r}: unknown scheme {scheme!r} (use unix://, tcp:// or fd://)")


def parse_upstream_address(text: str) -> UpstreamAddress:
    """Parse the daemon's address (`--upstream`, `DOCKER_HOST`): unix or tcp."""
    address = parse_listen_address(text)
    if isinstance(address, FdAddress):
        raise AddressError(f"{text!r}: the upstream must be unix:// or tcp://")
    return address


def _parse_unix(text: str, rest: str) -> UnixAddress:
    if not rest.startswith("/"):
        raise AddressError(f"{text!r}: a unix socket needs an absolute path (unix:///path)")
    # The kernel limits sun_path to 108 bytes including the terminating NUL.
    if len(rest.encode()) > 107:
        raise AddressError(f"{text!r}: unix socket paths are limited to 107 bytes")
    return UnixAddress(rest)


def _parse_tcp(text: str, rest: str) -> TcpAddress:
    rest = rest.rstrip("/")
    if rest.startswith("["):
        host, bracket, port_part = rest[1:].partition("]")
        if not bracket or (port_part and not port_part.startswith(":")):
            raise AddressError(f"{text!r}: malformed IPv6 address")
        port_text = port_part[1:]
    else:
        host, _, port_text = rest.partition(":")
    if not host:
        raise AddressError(f"{text!r}: tcp:// needs a host")
    if port_text == "":
        return TcpAddress(host, DEFAULT_TCP_PORT)
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise AddressError(f"{text!r}: bad port {port_text!r}")
    return TcpAddress(host, int(port_text))
