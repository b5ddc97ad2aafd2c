"""A plain socket stream for the byte path, with fewer trips through trio's scheduler.

trio's `SocketStream` yields to the scheduler after every successful send and receive
(so a busy task cannot starve the others) and the pump's trio locks yield on every
acquisition. A keep-alive `GET /_ping` through the proxy paid about seven scheduler
rounds that way. `SockStream` tries each operation on the non-blocking socket first and
waits for readiness only when the kernel says it would block, which in request/response
traffic happens once per direction. Fairness is kept explicitly: after `FAIR_SHARE`
operations in a row that did not wait, the next one yields.

It has the part of trio's stream interface the pump uses (`ByteStream`: `receive_some`,
`send_all`, `send_eof`, `aclose`), so a TLS stream (`sockspy.io.tls.TlsStream`) can take
its place; only two plain `SockStream`s relay with splice.

A stream that breaks raises `StreamClosed`, whatever broke it: the OS errors of a socket
(reset, broken pipe) and trio's closed and broken resource errors are mapped to it here,
at the stream boundary, so the code above catches one exception (as httpcore maps its
backends' exceptions in one place).
"""

from __future__ import annotations

import fcntl
import os
import select
import socket
from typing import Protocol

import trio

from sockspy.core.serving.address import TcpAddress, UpstreamAddress

# How much one read asks for, everywhere (pump, tunnel, TLS): big enough for throughput,
# small enough to stay below malloc's mmap threshold.
RECEIVE_SIZE = 64 * 1024
# A proxy is a store-and-forward hop: the more a send may queue in the kernel, the less
# often a bulk transfer stalls on the slower side (docker load through sockspy went from
# 0.78x to 1.0x of direct with 1 MiB instead of the 208 KiB default). It is a limit, not
# an allocation: an idle connection costs nothing more. Capped by net.core.wmem_max.
SEND_BUFFER = 1024 * 1024
FAIR_SHARE = 16  # operations without a wait before a task lets the others run
# What a broken socket raises below the boundary; above it, only StreamClosed.
RAW_STREAM_ERRORS = (OSError, trio.BrokenResourceError, trio.ClosedResourceError)


class StreamClosed(Exception):
    """The stream cannot be used any more: reset, broken, or closed by sockspy."""

    @classmethod
    def of(cls, exc: BaseException) -> StreamClosed:
        return cls(str(exc) or type(exc).__name__)


# How often a half-closed client is checked for having gone (`ByteStream.wait_hung_up`).
HANGUP_CHECK_SECONDS = 15.0


class _Fileno(Protocol):
    def fileno(self) -> int: ...


def hung_up(sock: _Fileno) -> bool:
    """Whether the peer of `sock` is gone altogether, not just done sending.

    poll(2) with no events asked still reports POLLHUP and POLLERR. A unix peer that
    closed gives POLLHUP; a tcp peer that closed is seen only when something is sent to
    it and it answers with a reset: the keep-alive probes of tcp fronts do that.
    """
    if sock.fileno() < 0:
        return True
    poller = select.poll()
    poller.register(sock.fileno(), 0)
    return any(events & (select.POLLHUP | select.POLLERR) for _, events in poller.poll(0))


class _Options(Protocol):
    def setsockopt(self, level: int, option: int, value: int, /) -> None: ...


def probe_keep_alive(sock: _Options) -> None:
    """TCP keep-alive probes on a client socket: after a minute of silence, one every
    15 s, gone after four unanswered (or a reset). A live peer's kernel answers them, so
    no stream is cut; a vanished one shows as hung up (`hung_up`)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 60)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 15)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 4)


async def wait_hung_up(sock: _Fileno) -> None:
    # A poll, not an event: the kernel wakes nobody for a hang-up after an end of stream.
    while True:
        await trio.sleep(HANGUP_CHECK_SECONDS)
        if hung_up(sock):
            return


class ByteStream(Protocol):
    """What the pump needs of a connection, plain or TLS."""

    async def receive_some(self, max_bytes: int = ...) -> bytes:
        """The next bytes, b"" at the end of the stream. Raises StreamClosed."""
        ...

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Raises StreamClosed."""
        ...

    async def send_eof(self) -> None:
        """End this direction; the other one stays open (TLS: a close_notify). Raises
        StreamClosed."""

    async def aclose(self) -> None:
        """Close both directions; never raises StreamClosed."""
        ...

    async def wait_hung_up(self) -> None:
        """Return once the peer is gone altogether (`hung_up`), checked every
        `HANGUP_CHECK_SECONDS`: after the peer's half-close, reading only ever says "end"."""
        ...


class SockStream:
    """A trio byte stream over a raw socket, cheaper than trio's SocketStream on the
    byte path (fewer scheduler trips per read); half-close with `send_eof`."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        self.socket = sock
        self._streak = 0
        self._closed = False
        self._drained = False  # the last receive emptied the socket: wait before trying

    @classmethod
    def adopt(cls, stream: trio.SocketStream) -> SockStream:
        """Take over the socket of a trio stream (which must not be used afterwards)."""
        return cls(socket.socket(fileno=stream.socket.detach()))

    async def _fair(self) -> None:
        self._streak += 1
        if self._streak >= FAIR_SHARE:
            self._streak = 0
            await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes: int = RECEIVE_SIZE) -> bytes:
        sock = self.socket
        if self._drained:
            # A short read last time: the socket is almost surely empty now, so skip the
            # receive that would only fail with EAGAIN and wait for readiness first.
            self._streak = 0
            await _wait_readable(sock)
        while True:
            if self._closed:
                raise StreamClosed("stream was closed")
            try:
                data = sock.recv(max_bytes)
            except BlockingIOError:
                self._streak = 0
                await _wait_readable(sock)
                continue
            except OSError as exc:
                raise StreamClosed.of(exc) from exc
            self._drained = 0 < len(data) < max_bytes
            await self._fair()
            return data

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        sock = self.socket
        view = memoryview(data)
        try:
            while view:
                if self._closed:
                    raise StreamClosed("stream was closed")
                try:
                    sent = sock.send(view)
                except BlockingIOError:
                    self._streak = 0
                    await _wait_writable(sock)
                    continue
                except OSError as exc:
                    raise StreamClosed.of(exc) from exc
                view = view[sent:]
        finally:
            view.release()
        await self._fair()

    async def splice_to(self, sink: SockStream, pipe: SplicePipe) -> int:
        """Move the next bytes from this socket to `sink` through `pipe` with splice(2),
        never copying them into Python; the count moved, 0 at the end of this stream.

        For hijacked sessions (attach, exec), whose bytes sockspy relays without reading.
        A reset of this socket counts as its end; a failure to write raises StreamClosed.
        """
        source = self.socket
        if self._drained:
            self._streak = 0
            await _wait_readable(source)
        while True:
            if self._closed or sink._closed:
                raise StreamClosed("stream was closed")
            try:
                moved = os.splice(source.fileno(), pipe.write_fd, pipe.size, flags=_SPLICE)
            except BlockingIOError:
                self._streak = 0
                await _wait_readable(source)
                continue
            except (ConnectionResetError, BrokenPipeError):
                moved = 0
            except OSError as exc:
                raise StreamClosed.of(exc) from exc
            break
        self._drained = 0 < moved < pipe.size
        left = moved
        while left:
            try:
                left -= os.splice(pipe.read_fd, sink.socket.fileno(), left, flags=_SPLICE)
            except BlockingIOError:
                sink._streak = 0
                await _wait_writable(sink.socket)
                if sink._closed:
                    raise StreamClosed("stream was closed") from None
            except OSError as exc:
                raise StreamClosed.of(exc) from exc
        await self._fair()
        return moved

    async def send_eof(self) -> None:
        if self._closed:
            raise StreamClosed("stream was closed")
        try:
            self.socket.shutdown(socket.SHUT_WR)
        except OSError as exc:
            raise StreamClosed.of(exc) from exc
        await self._fair()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            trio.lowlevel.notify_closing(self.socket)  # wakes a task waiting on it
            self.socket.close()
        await trio.lowlevel.checkpoint()

    async def wait_hung_up(self) -> None:
        await wait_hung_up(self.socket)


async def _wait_readable(sock: socket.socket) -> None:
    try:
        await trio.lowlevel.wait_readable(sock)
    except RAW_STREAM_ERRORS as exc:  # closed while waiting (another task's aclose)
        raise StreamClosed.of(exc) from exc


async def _wait_writable(sock: socket.socket) -> None:
    try:
        await trio.lowlevel.wait_writable(sock)
    except RAW_STREAM_ERRORS as exc:
        raise StreamClosed.of(exc) from exc


_SPLICE = os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK


class SplicePipe:
    """A kernel pipe that carries one direction of a tunnel from socket to socket."""

    def __init__(self, size: int = 1024 * 1024) -> None:
        self.read_fd, self.write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:  # a bigger pipe moves more per call; the default (64 KiB) also works
            self.size = fcntl.fcntl(self.write_fd, fcntl.F_SETPIPE_SZ, size)
        except OSError:
            self.size = fcntl.fcntl(self.write_fd, fcntl.F_GETPIPE_SZ)

    def close(self) -> None:
        os.close(self.read_fd)
        os.close(self.write_fd)


async def connect_stream(address: UpstreamAddress) -> SockStream:
    """Open a connection to `address`; OSError if it cannot be reached."""
    if isinstance(address, TcpAddress):
        opened = await trio.open_tcp_stream(address.host, address.port)
        return SockStream.adopt(opened)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        sock.connect(address.path)
    except BlockingIOError:
        # The daemon's backlog is full: let trio wait for room its own way.
        sock.close()
        return SockStream.adopt(await trio.open_unix_socket(address.path))
    except BaseException:
        sock.close()
        raise
    return SockStream(sock)
