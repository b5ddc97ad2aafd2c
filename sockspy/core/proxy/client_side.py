"""The client's side of one connection: bytes in, request heads and body pieces out.

The counterpart of `sockspy.core.proxy.daemon_side`. The conversation feeds what the
client sent (`feed`), takes one head at a time (`next_head`), says how the body that
follows is read (`start_body`: held for a rule up to a limit, or passed on with at most
its first bytes kept for the record), and takes its pieces (`next_piece`). It knows
nothing of decisions: what is forwarded, held or discarded is the conversation's call.

Bytes that break HTTP framing, a head over its limit, and a held body over its limit
raise `ProtocolError` with the status the client is answered with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sockspy.core.wire.framing import BodyFraming, BodyReader, FixedLength, FramingError, reader_for
from sockspy.core.wire.head import ProtocolError, find_head_end


@dataclass(slots=True)
class Piece:
    raw: bytes  # as framed on the wire (possibly empty)
    size: int  # payload bytes of the body so far
    done: bool  # the body has ended


class RequestReader:
    """Reads the requests of one connection, in order."""

    def __init__(self, max_head_bytes: int, clock: Callable[[], float]) -> None:
        self.buffer = b""  # client bytes not yet taken
        self.head_started: float | None = None  # since when a partial head has waited
        self.kept: bytearray | None = None  # the body's payload, when it is being kept
        self.over_cap = False  # more of the body came than `keep` allowed: `kept` dropped
        self._max_head_bytes = max_head_bytes
        self._clock = clock
        self._body: BodyReader | None = None
        self._hold_limit: int | None = None
        self._keep_cap: int | None = None

    def feed(self, data: bytes) -> None:
        self.buffer = self.buffer + data if self.buffer else data

    def take_rest(self) -> bytes:
        """Every byte not yet taken (the connection became a tunnel, or is refused)."""
        rest, self.buffer = self.buffer, b""
        return rest

    def next_head(self) -> bytes | None:
        """The next complete request head, or None until more bytes come."""
        end = find_head_end(self.buffer, self._max_head_bytes)
        if end is None:
            if self.head_started is None:
                self.head_started = self._clock()
            return None
        self.head_started = None
        head, self.buffer = self.buffer[:end], self.buffer[end:]
        return head

    def start_body(
        self, framing: BodyFraming, hold_limit: int | None = None, keep: int | None = None
    ) -> bool:
        """Read the body that follows the head just taken; True when it is already over.

        `hold_limit`: the body is held for a rule, kept whole, and refused (413) past
        that many bytes. `keep`: the body passes on, and its first `keep` bytes are kept
        for the record (past that, nothing is kept and `over_cap` is set)."""
        if hold_limit is not None:
            if isinstance(framing, FixedLength) and framing.length > hold_limit:
                raise ProtocolError(413, f"request body over {hold_limit} bytes")
            keep = None
        self._hold_limit, self._keep_cap = hold_limit, keep
        collect = hold_limit is not None or keep is not None
        self._body = reader_for(framing, collect=collect)
        self.kept = self._body.collected
        self.over_cap = False
        return self._body.done

    def next_piece(self) -> Piece:
        """The body bytes there are now (the body must have been started)."""
        body = self._body
        assert body is not None
        try:
            end = body.feed(self.buffer)
        except FramingError as exc:
            raise ProtocolError(400, f"bad request body: {exc}", "ambiguous_framing") from None
        raw, self.buffer = self.buffer[:end], self.buffer[end:]
        if self._hold_limit is not None and body.size > self._hold_limit:
            raise ProtocolError(413, f"request body over {self._hold_limit} bytes")
        if self.kept is not None and self._keep_cap is not None and len(self.kept) > self._keep_cap:
            self.kept = body.collected = None
            self.over_cap = True
        if body.done:
            self._body = None
        return Piece(raw, body.size, body.done)
