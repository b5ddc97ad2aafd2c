"""What the conversation asks the I/O layer to send: two ordered outboxes of bytes and
markers, one towards the daemon and one towards the client."""

from __future__ import annotations

from collections import deque
from typing import Final


class Eof:
    """Outbox marker: shut down the write side of that stream (half-close)."""

    def __repr__(self) -> str:
        return "EOF"


EOF: Final = Eof()


class Apart:
    """Outbox marker: the bytes before it and after it leave in separate sends.

    After a `101`: clients read the response head through a buffered reader and the
    stream from the raw socket after it (docker-py's attach does), so stream bytes that
    arrive in the same read as the head are lost to them. sockspy never joins the two
    (checked with docker-py 7.1: attach logs=1 stream=0 got b'' more often through sockspy
    than direct, while a raw reader got every byte both ways).
    """

    def __repr__(self) -> str:
        return "APART"


APART: Final = Apart()
Outbox = deque[bytes | Eof | Apart]
