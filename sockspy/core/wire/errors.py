"""Responses sockspy makes itself, shaped like dockerd's own errors.

The docker CLI prints the `message` field of a JSON error body as
"Error response from daemon: <message>", so a denial reads like any daemon error.
"""

from __future__ import annotations

import json
from http import HTTPStatus


def error_response(status: int, message: str, *, close: bool = False, head: bool = False) -> bytes:
    """A complete HTTP/1.1 response with a Docker-style JSON error body.

    With `head` (the answer to a HEAD request) the body is left out and only its length
    is announced (RFC 9110 9.3.2): a client reads no body after a response to HEAD, so one
    sent anyway would be read as the start of the next response on that connection.
    """
    body = json.dumps({"message": message}).encode() + b"\n"
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    lines = [
        f"HTTP/1.1 {status} {phrase}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Server: sockspy",
    ]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + (b"" if head else body)
