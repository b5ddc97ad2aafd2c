"""Message body framing: where a body ends, without touching its bytes.

RFC 9112 section 6 decides how long a message body is. sockspy forwards body bytes
verbatim, so all it needs is to know where each body ends: a countdown for a
Content-Length body, a scanner that hops from chunk header to chunk header for a chunked
one. Neither copies or inspects payload bytes; a chunked reader can optionally collect
the de-chunked payload when a rule has to read the body.

Request framing (section 6.3, items 4-7, with sockspy's stricter refusals made in
`head.py`): Transfer-Encoding chunked, else Content-Length, else no body.
Response framing (section 6.3, items 1-3, 5-8): no body for HEAD, 1xx, 204 and 304;
chunked; Content-Length; else the body runs until the daemon closes.
"""

from __future__ import annotations

from dataclasses import dataclass

# Go's chunked reader refuses a size of more than 16 hex digits; a longer line is junk.
MAX_CHUNK_LINE = 4096
MAX_TRAILER_BYTES = 64 * 1024


class FramingError(ValueError):
    """A body whose framing is malformed; the connection cannot go on."""


@dataclass(frozen=True, slots=True)
class NoBody:
    pass


@dataclass(frozen=True, slots=True)
class FixedLength:
    length: int


@dataclass(frozen=True, slots=True)
class Chunked:
    pass


@dataclass(frozen=True, slots=True)
class UntilClose:
    pass


BodyFraming = NoBody | FixedLength | Chunked | UntilClose


class BodyReader:
    """Finds the end of one body in a stream of reads.

    `feed(data, start)` returns the offset in `data` where the body stopped consuming:
    `len(data)` if all of it belongs to the body (and more may follow), or less when
    the body ended inside `data`. `done` tells whether the body is complete.
    """

    done: bool = False
    size: int = 0  # payload bytes seen so far (de-chunked for chunked bodies)
    collected: bytearray | None = None  # the payload, when the reader was asked to keep it

    def feed(self, data: bytes, start: int = 0) -> int:
        raise NotImplementedError

    def end_of_stream(self) -> bool:
        """The peer closed. True if that ends the body cleanly."""
        return self.done


class EmptyReader(BodyReader):
    done = True

    def feed(self, data: bytes, start: int = 0) -> int:
        return start


class LengthReader(BodyReader):
    def __init__(self, length: int, collect: bool = False) -> None:
        self.remaining = length
        self.done = length == 0
        self.collected: bytearray | None = bytearray() if collect else None

    def feed(self, data: bytes, start: int = 0) -> int:
        take = min(self.remaining, len(data) - start)
        if self.collected is not None:
            self.collected += data[start : start + take]
        self.remaining -= take
        self.size += take
        self.done = self.remaining == 0
        return start + take


class UntilCloseReader(BodyReader):
    def feed(self, data: bytes, start: int = 0) -> int:
        self.size += len(data) - start
        return len(data)

    def end_of_stream(self) -> bool:
        self.done = True
        return True


class ChunkedReader(BodyReader):
    """Scans `chunk-size [ext] CRLF data CRLF ... 0 CRLF trailers CRLF` (RFC 9112 7.1).

    Only chunk-size lines and trailers are examined; chunk data is skipped by count.
    Bare LF, whitespace around sizes, and over-long lines are refused: they are exactly
    where parsers disagree, and a disagreement about where a body ends is smuggling.
    """

    _SIZE, _DATA, _DATA_CRLF, _TRAILER = range(4)

    def __init__(self, collect: bool = False) -> None:
        self._state = self._SIZE
        self._line = bytearray()  # a size or trailer line split across reads
        self._chunk_left = 0
        self._crlf_left = b""
        self._trailer_bytes = 0
        self.collected: bytearray | None = bytearray() if collect else None

    def feed(self, data: bytes, start: int = 0) -> int:
        pos = start
        end = len(data)
        while pos < end and not self.done:
            if self._state == self._DATA:
                take = min(self._chunk_left, end - pos)
                if self.collected is not None:
                    self.collected += data[pos : pos + take]
                self._chunk_left -= take
                self.size += take
                pos += take
                if self._chunk_left == 0:
                    self._state = self._DATA_CRLF
                    self._crlf_left = b"\r\n"
            elif self._state == self._DATA_CRLF:
                while self._crlf_left and pos < end:
                    if data[pos] != self._crlf_left[0]:
                        raise FramingError("chunk data not followed by CRLF")
                    self._crlf_left = self._crlf_left[1:]
                    pos += 1
                if not self._crlf_left:
                    self._state = self._SIZE
            else:
                line, pos = self._take_line(data, pos)
                if line is None:
                    break
                if self._state == self._SIZE:
                    self._start_chunk(line)
                else:
                    self._trailer_line(line)
        return pos

    def _take_line(self, data: bytes, pos: int) -> tuple[bytes | None, int]:
        """Collect one CRLF-terminated line; None until it is complete."""
        newline = data.find(b"\n", pos)
        if newline < 0:
            self._line += data[pos:]
            if len(self._line) > MAX_CHUNK_LINE:
                raise FramingError("chunk header line too long")
            return None, len(data)
        self._line += data[pos : newline + 1]
        line = bytes(self._line)
        self._line.clear()
        if len(line) > MAX_CHUNK_LINE:
            raise FramingError("chunk header line too long")
        if not line.endswith(b"\r\n") or b"\r" in line[:-2]:
            raise FramingError("chunk line not terminated by CRLF")
        return line[:-2], newline + 1

    def _start_chunk(self, line: bytes) -> None:
        size_text = line.split(b";", 1)[0]
        if (
            not size_text
            or len(size_text) > 16
            or not all(c in b"0123456789abcdefABCDEF" for c in size_text)
        ):
            raise FramingError(f"bad chunk size {size_text[:20]!r}")
        self._chunk_left = int(size_text, 16)
        self._state = self._DATA if self._chunk_left else self._TRAILER

    def _trailer_line(self, line: bytes) -> None:
        if not line:
            self.done = True
            return
        self._trailer_bytes += len(line) + 2
        if self._trailer_bytes > MAX_TRAILER_BYTES or b":" not in line:
            raise FramingError("malformed or oversized chunked trailer")


def reader_for(framing: BodyFraming, collect: bool = False) -> BodyReader:
    """A fresh reader for one body."""
    if isinstance(framing, FixedLength):
        return LengthReader(framing.length, collect)
    if isinstance(framing, Chunked):
        return ChunkedReader(collect)
    if isinstance(framing, UntilClose):
        return UntilCloseReader()
    return EmptyReader()
