"""The daemon's side of one connection: bytes in, response events out.

Like h11's `Connection.next_event`: the conversation feeds what the daemon sent
(`feed`) and pulls events (`next_event`) until there are none; the reader knows
nothing of exchanges, decisions or plans, only where each response's head and body
begin and end. It never copies the payload, except the part it is asked to keep
(`keep_body`: a redacted answer whole, or the last bytes of a create's answer).

Events, in the order one response gives them:

- `Head`: a response head, final or informational (`1xx`: another head follows);
- `Switched`: a `101` head; everything after it belongs to the tunnel (`rest`), and the
  reader is done;
- `Piece`: some of the body, as framed on the wire (`ended`: the last piece);
- `Ended`: a body has ended with no piece to carry it (an empty body, or one framed by
  the daemon's close), with `kept`: what was kept of it, de-chunked.

Bytes that break HTTP framing raise `ProtocolError` (the conversation answers with a
daemon error and closes).
"""

from __future__ import annotations

from dataclasses import dataclass

from sockspy.core.proxy.states import RESPONSE_MOVES, ResponseState, move
from sockspy.core.wire.framing import BodyFraming, BodyReader, FramingError, reader_for
from sockspy.core.wire.head import (
    ProtocolError,
    RequestHead,
    ResponseHead,
    find_head_end,
    parse_response_head,
)


@dataclass(slots=True)
class Head:
    raw: bytes
    head: ResponseHead
    bodyless: bool = False  # a final head whose body is empty: `Ended` follows at once


@dataclass(slots=True)
class Switched:
    raw: bytes
    head: ResponseHead
    rest: bytes  # daemon bytes that came in the same read as the 101: the tunnel's


@dataclass(slots=True)
class Ended:
    kept: bytes | None  # what was kept of the body (None: nothing was asked to be kept)
    size: int


@dataclass(slots=True)
class Piece:
    raw: bytes
    kept: int  # bytes kept of the body so far
    size: int  # payload bytes of the body so far
    ended: Ended | None = None  # this piece ends the body
    collected: bytearray | None = None  # the body kept so far, live (`keep_body`)


Event = Head | Switched | Piece | Ended


class ResponseReader:
    """Reads the responses of one connection, in order. The conversation says which
    request each head answers (`next_event(expected)`), since a response's framing
    depends on its request's method and on whether it asked to upgrade."""

    def __init__(self) -> None:
        self.state = ResponseState.HEAD  # moved only by `_to` (checked against the table)
        self._buf = b""
        self._body: BodyReader | None = None
        self._framing: BodyFraming | None = None
        self._keep_last: int | None = None  # keep only the last n bytes (None: all)

    def _to(self, state: ResponseState) -> None:
        self.state = move(self.state, state, RESPONSE_MOVES)

    def feed(self, data: bytes) -> None:
        self._buf = self._buf + data if self._buf else data

    def next_event(self, expected: RequestHead | None) -> Event | None:
        """The next event, or None until more bytes come. `expected`: the head of the
        request the next response answers (None: no request is waiting for one)."""
        if self.state is ResponseState.TUNNEL:
            return None
        if self._body is not None and self._body.done:
            return self._ended()
        if not self._buf:
            return None
        if self._body is None:
            return self._next_head(expected)
        return self._next_piece()

    def _next_head(self, expected: RequestHead | None) -> Event | None:
        end = find_head_end(self._buf)
        if end is None:
            return None
        if expected is None:
            raise ProtocolError(502, "the daemon sent bytes nobody asked for")
        raw, self._buf = self._buf[:end], self._buf[end:]
        head = parse_response_head(raw, expected.method, expected.upgrade)
        if head.status == 101:
            rest, self._buf = self._buf, b""
            self._to(ResponseState.TUNNEL)
            return Switched(raw, head, rest)
        if not head.informational:
            self._framing = head.framing
            self._body = reader_for(head.framing)
            self._keep_last = None
            self._to(ResponseState.BODY)
            return Head(raw, head, bodyless=self._body.done)
        return Head(raw, head)

    def keep_body(self, last: int | None = None) -> None:
        """Keep this response's body (`last`: only its last bytes). Call it at `Head`."""
        assert self._body is not None and self._body.size == 0 and self._framing is not None
        self._body = reader_for(self._framing, collect=True)
        self._keep_last = last

    def _next_piece(self) -> Piece | None:
        body = self._body
        assert body is not None
        try:
            end = body.feed(self._buf)
        except FramingError as exc:
            raise ProtocolError(502, f"bad response body: {exc}") from None
        if not end:
            return None
        raw, self._buf = self._buf[:end], self._buf[end:]
        kept = body.collected
        if kept is not None and self._keep_last is not None and len(kept) > self._keep_last:
            del kept[: len(kept) - self._keep_last]
        piece = Piece(raw, len(kept or b""), body.size, collected=kept)
        if body.done:
            piece.ended = self._ended()
        return piece

    def end_of_stream(self) -> Ended | None:
        """The daemon closed: the end of a body framed by close, if one was being read."""
        body = self._body
        if body is not None and body.end_of_stream():
            return self._ended()
        return None

    def _ended(self) -> Ended:
        body = self._body
        assert body is not None
        kept = bytes(body.collected) if body.collected is not None else None
        self._body = self._framing = None
        self._to(ResponseState.HEAD)
        return Ended(kept, body.size)
