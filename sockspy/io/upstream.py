"""Connections to the real daemon socket."""

from __future__ import annotations

import trio

from sockspy.core.address import UpstreamAddress
from sockspy.io.sockstream import SockStream, connect_stream

CONNECT_TIMEOUT = 10.0


class UpstreamError(Exception):
    """The daemon could not be reached; the message is the reason, for the 502 body."""


async def connect(address: UpstreamAddress) -> SockStream:
    try:
        with trio.fail_after(CONNECT_TIMEOUT):
            return await connect_stream(address)
    except trio.TooSlowError:
        raise UpstreamError(f"no answer within {CONNECT_TIMEOUT:g} s") from None
    except OSError as exc:
        raise UpstreamError(exc.strerror or str(exc)) from None
