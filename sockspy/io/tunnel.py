"""A hijacked session (attach, exec) after its `101`: raw bytes both ways, until both end.

Each direction runs in its own task (the pump's client and daemon readers) and ends when
its source does; its half-close is then passed on to the other side, and the other
direction goes on. When both have ended, `on_closed` is called (`moved` has the counts).
A stream that breaks ends both directions at once: nothing more can be relayed on that
connection.

Between two plain sockets the bytes go through a pipe with splice(2): sockspy counts
them but never copies them, so a session costs a few system calls per read whatever its
size. A TLS side must decrypt or encrypt them, so they are copied; its half-close is a
close_notify (`sockspy.io.tls`). A recorded session (a transcript) is copied too: each
read is handed to its `tap` after it has been sent on.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from contextlib import suppress

from sockspy.io.sockstream import RECEIVE_SIZE, ByteStream, SockStream, SplicePipe, StreamClosed

Tap = Callable[[bytes], None]  # sees every relayed read, after it was sent


class Way(enum.Enum):
    UP = "client to daemon"
    DOWN = "daemon to client"


class Tunnel:
    def __init__(self, on_closed: Callable[[], None]) -> None:
        self.moved = {Way.UP: 0, Way.DOWN: 0}
        self._ended: set[Way] = set()
        self._on_closed = on_closed

    async def relay(
        self, source: ByteStream, sink: ByteStream, way: Way, tap: Tap | None = None
    ) -> bool:
        """Move raw bytes until `source` ends, then half-close `sink`; True if `source`
        ended cleanly, False if a stream broke (which ends the whole tunnel)."""
        try:
            if tap is None and isinstance(source, SockStream) and isinstance(sink, SockStream):
                await self._splice(source, sink, way)
            else:
                await self._copy(source, sink, way, tap)
        except StreamClosed:
            self.end(Way.UP)
            self.end(Way.DOWN)
            return False
        with suppress(StreamClosed):
            await sink.send_eof()
        self.end(way)
        return True

    def end(self, way: Way) -> None:
        """This direction is over (also for one that never needed relaying)."""
        if way in self._ended:
            return
        self._ended.add(way)
        if len(self._ended) == 2:
            self._on_closed()

    async def _splice(self, source: SockStream, sink: SockStream, way: Way) -> None:
        try:
            pipe = SplicePipe()
        except OSError:  # no file descriptors left for a pipe: copy instead
            await self._copy(source, sink, way)
            return
        try:
            while moved := await source.splice_to(sink, pipe):
                self.moved[way] += moved
        finally:
            pipe.close()

    async def _copy(
        self, source: ByteStream, sink: ByteStream, way: Way, tap: Tap | None = None
    ) -> None:
        while True:
            try:
                data = await source.receive_some(RECEIVE_SIZE)
            except StreamClosed:  # a reset source is its end, as for splice
                return
            if not data:
                return
            await sink.send_all(data)
            self.moved[way] += len(data)
            if tap is not None:
                tap(data)
