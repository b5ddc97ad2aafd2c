"""Where the tcp fronts will listen, found before any is opened (see core/exposure.py).

A `tcp://` front says its host; a socket inherited through `fd://` says it only through
getsockname(), read here from a duplicate of the descriptor so that the socket itself is
left untouched for `open_fronts`.
"""

from __future__ import annotations

import os
import socket

from sockspy.core.serving.address import FdAddress, ListenAddress, TcpAddress
from sockspy.core.serving.exposure import TcpFront
from sockspy.io.listeners import inherited_name, systemd_fds


def planned_tcp_fronts(addresses: list[ListenAddress]) -> list[TcpFront]:
    """The tcp fronts `addresses` will open, with the host each one is bound to."""
    fronts: list[TcpFront] = []
    for address in addresses:
        if isinstance(address, TcpAddress):
            fronts.append(TcpFront(str(address), address.host))
        elif isinstance(address, FdAddress):
            fds = systemd_fds() if address.fd is None else [address.fd]
            for fd in fds:
                host = _inherited_tcp_host(fd)
                if host is not None:
                    fronts.append(TcpFront(inherited_name(fd), host))
    return fronts


def _inherited_tcp_host(fd: int) -> str | None:
    """The address a passed tcp socket is bound to; None for unix sockets and bad fds.

    A bad descriptor is left for `open_fronts` to report with its usual message.
    """
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return None
    with sock:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return None
        host: str = sock.getsockname()[0]
        return host
