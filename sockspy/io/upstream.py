"""Connections to the real daemon socket: unix, tcp, or tcp with TLS (a remote daemon)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import trio

from sockspy.core.serving.address import TcpAddress, UpstreamAddress
from sockspy.io.sockstream import ByteStream, connect_stream
from sockspy.io.tls import connect_tls

CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class TlsUpstream:
    """A daemon reached over TLS (`serve --upstream-tlsverify ...`)."""

    address: TcpAddress
    context: ssl.SSLContext

    def __str__(self) -> str:
        return f"{self.address} (TLS)"


Upstream = UpstreamAddress | TlsUpstream


class UpstreamError(Exception):
    """The daemon could not be reached; the message is the reason, for the 502 body."""


async def connect(address: Upstream) -> ByteStream:
    try:
        with trio.fail_after(CONNECT_TIMEOUT):
            if isinstance(address, TlsUpstream):
                return await connect_tls(address.address, address.context)
            return await connect_stream(address)
    except trio.TooSlowError:
        raise UpstreamError(f"no answer within {CONNECT_TIMEOUT:g} s") from None
    except OSError as exc:
        raise UpstreamError(exc.strerror or str(exc)) from None
