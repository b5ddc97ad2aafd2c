"""Turn a connection away over a limit, with an answer the client can read.

The answer is a Docker-style JSON error with `Connection: close`. It is sent once the
client's first request head has arrived (or after a short wait), because an HTTP client
reads a response only after it has sent its request: Go's transport drops bytes that
come before, and a close with unread request bytes would reach the client as a reset.
"""

from __future__ import annotations

from contextlib import suppress

import trio

from sockspy.core.serving.limits import Refusal
from sockspy.core.wire.errors import error_response
from sockspy.io.sockstream import ByteStream, StreamClosed

# How long a refused client may take to send its request head (it is never forwarded).
REFUSAL_WAIT_SECONDS = 2.0
# After the answer, read and drop what the client still sends so no reset destroys it.
REFUSAL_LINGER_SECONDS = 1.0
_HEAD_LIMIT = 64 * 1024


async def refuse(stream: ByteStream, refusal: Refusal) -> None:
    """Answer `refusal` on `stream` and close it. Never raises on a broken connection."""
    response = error_response(refusal.status, f"sockspy: {refusal.reason}", close=True)
    try:
        with suppress(StreamClosed):
            seen = b""
            with trio.move_on_after(REFUSAL_WAIT_SECONDS):
                while b"\r\n\r\n" not in seen and len(seen) < _HEAD_LIMIT:
                    data = await stream.receive_some(_HEAD_LIMIT)
                    if not data:
                        break
                    seen += data
            await stream.send_all(response)
            await stream.send_eof()
            with trio.move_on_after(REFUSAL_LINGER_SECONDS):
                while await stream.receive_some(_HEAD_LIMIT):
                    pass
    finally:
        with suppress(StreamClosed):
            await stream.aclose()
