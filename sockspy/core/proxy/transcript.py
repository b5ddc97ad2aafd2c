"""A session's transcript as asciicast v2, the format `asciinema play` and asciinema-player
read: a JSON header line, then one JSON line per event, ``[seconds, code, text]``.

What the session's bytes are depends on the tty, as dockerd frames them:

* with a tty (``docker exec -t``, a container created with ``-t``) the output is the raw
  terminal stream: each read becomes an ``"o"`` event;
* without one, dockerd multiplexes stdout and stderr (``stdcopy``): frames of an 8-byte
  header (stream 1 or 2, three zero bytes, a big-endian uint32 length) and the payload.
  They are taken apart here: stdout is ``"o"``, stderr ``"e"`` (players that know only
  ``"o"`` skip it; sockspy's own readers and `jq` see both);
* what the client typed (``record = "all"``) is ``"i"``.

Text is decoded as UTF-8 without splitting a character across reads (invalid bytes become
U+FFFD). The transcript is capped at `limit` bytes of recorded payload; past it one
``"m"`` (marker) event says so and nothing more is written.

Sans-IO: `feed` returns the lines to write; the I/O layer writes them off the event loop.
"""

from __future__ import annotations

import codecs
import json
import struct
from dataclasses import dataclass, field

DEFAULT_LIMIT = 16 * 1024 * 1024
_FRAME_HEADER = struct.Struct(">BxxxI")
_CODES = {1: "o", 2: "e"}  # stdcopy's stream ids: 0 stdin (never sent), 1 stdout, 2 stderr


@dataclass(slots=True)
class Transcript:
    tty: bool
    started: float  # monotonic time of the session's start (event times count from it)
    with_input: bool = False
    limit: int = DEFAULT_LIMIT
    recorded: int = 0  # payload bytes written so far
    truncated: bool = False
    _frames: bytearray = field(default_factory=bytearray)
    _decoders: dict[str, codecs.IncrementalDecoder] = field(default_factory=dict)

    def header(self, wall_clock: float, title: str, width: int = 80, height: int = 24) -> bytes:
        head = {
            "version": 2,
            "width": width,
            "height": height,
            "timestamp": int(wall_clock),
            "title": title,
        }
        return _line(head)

    def output(self, data: bytes, now: float) -> bytes:
        """Lines for bytes the daemon sent the client."""
        if self.tty:
            return self._event("o", data, now)
        self._frames += data
        lines = []
        while len(self._frames) >= _FRAME_HEADER.size:
            stream, size = _FRAME_HEADER.unpack_from(self._frames)
            if len(self._frames) < _FRAME_HEADER.size + size:
                break
            payload = bytes(self._frames[_FRAME_HEADER.size : _FRAME_HEADER.size + size])
            del self._frames[: _FRAME_HEADER.size + size]
            lines.append(self._event(_CODES.get(stream, "o"), payload, now))
        return b"".join(lines)

    def input(self, data: bytes, now: float) -> bytes:
        """Lines for bytes the client sent (only with `with_input`)."""
        return self._event("i", data, now) if self.with_input else b""

    def _event(self, code: str, data: bytes, now: float) -> bytes:
        if self.truncated or not data:
            return b""
        if self.recorded + len(data) > self.limit:
            self.truncated = True
            note = f"sockspy: transcript truncated at {self.recorded} bytes"
            return _line([round(now - self.started, 6), "m", note])
        self.recorded += len(data)
        decoder = self._decoders.get(code)
        if decoder is None:
            decoder = self._decoders[code] = codecs.getincrementaldecoder("utf-8")("replace")
        text = decoder.decode(data)
        if not text:
            return b""
        return _line([round(now - self.started, 6), code, text])


def _line(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode() + b"\n"
