"""The load generator: HTTP/1.1 over unix sockets, with just enough parsing to count.

wrk and ab cannot speak to a unix socket, so the benchmark brings its own generator. It
must not be the bottleneck, which on a 2-core machine shared with the proxy and dockerd
means: as little Python per request as possible.

- Requests are prebuilt bytes; a response is found by `ResponseFramer`, which looks for
  the end of the head, reads the status and the body framing (Content-Length or chunked)
  and skips the body without copying it. Nothing else is parsed.
- Sockets stay blocking with a kernel receive timeout (`SO_RCVTIMEO`) instead of a Python
  timeout: a Python timeout makes every `recv` a `poll` + `recv`, twice the syscalls.
- Many clients at once run in worker processes, each an `epoll` loop over its share of
  connections, so the load is not serialised on one interpreter.

Every function reports the generator's own CPU time, from which `run.py` states the
generator's ceiling (requests per second one core of it could drive).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import multiprocessing.synchronize
import select
import socket
import struct
import time
from dataclasses import dataclass

PING = b"GET /_ping HTTP/1.1\r\nHost: api.moby.localhost\r\n\r\n"
CONTAINERS = b"GET /v1.41/containers/json HTTP/1.1\r\nHost: api.moby.localhost\r\n\r\n"
EVENTS = b"GET /v1.41/events HTTP/1.1\r\nHost: api.moby.localhost\r\n\r\n"

RECV_SIZE = 65536
IO_TIMEOUT = 15.0  # seconds a single receive may block before the sample fails


class LoadError(Exception):
    """The target broke a sample: a refused or closed connection, a bad response, a stall."""


class ResponseFramer:
    """Counts whole HTTP/1.1 responses (to GET requests) in a byte stream.

    RFC 9112 section 6.3, cut down to what dockerd sends for the requests above: a 1xx,
    204 or 304 response has no body; otherwise `Transfer-Encoding: chunked` frames it;
    otherwise `Content-Length` does. A response framed by neither (read until close) is
    not expected here and raises. Header names are matched case-insensitively on a
    lowered copy of the head, which is small.
    """

    __slots__ = ("_body_left", "_buf", "_in_chunks", "completed", "unexpected_status")

    def __init__(self) -> None:
        self._buf = b""
        self._body_left = -1  # -1: waiting for a head
        self._in_chunks = False
        self.completed = 0
        self.unexpected_status = 0  # responses whose status was not 200

    @property
    def idle(self) -> bool:
        """True between responses: nothing buffered, no body pending."""
        return not self._buf and self._body_left < 0 and not self._in_chunks

    def feed(self, data: bytes) -> int:
        """Take received bytes; return how many responses they completed."""
        buf = self._buf + data if self._buf else data
        done = 0
        pos = 0
        end = len(buf)
        while pos < end:
            if self._in_chunks:
                pos, finished = self._chunks(buf, pos)
                if not finished:
                    break
                self._in_chunks = False
                done += 1
            elif self._body_left >= 0:
                take = min(self._body_left, end - pos)
                pos += take
                self._body_left -= take
                if self._body_left:
                    break
                self._body_left = -1
                done += 1
            else:
                head_end = buf.find(b"\r\n\r\n", pos)
                if head_end < 0:
                    break
                head = buf[pos:head_end].lower()
                pos = head_end + 4
                done += self._start_body(head)
        self._buf = buf[pos:] if pos < end else b""
        self.completed += done
        return done

    def _start_body(self, head: bytes) -> int:
        """Read a head's status and framing; return 1 if the response is already complete."""
        if not head.startswith(b"http/1."):
            raise LoadError(f"not an HTTP/1.x response: {head[:40]!r}")
        status = int(head[9:12])
        if status != 200:
            self.unexpected_status += 1
        if status < 200 or status in (204, 304):
            return 1
        if b"\r\ntransfer-encoding:" in head and b"chunked" in head:
            self._in_chunks = True
            return 0
        marker = head.find(b"\r\ncontent-length:")
        if marker < 0:
            raise LoadError("a response framed by neither Content-Length nor chunked")
        line_end = head.find(b"\r\n", marker + 2)
        length = int(head[marker + 17 : line_end if line_end > 0 else None])
        if length == 0:
            return 1
        self._body_left = length
        return 0

    def _chunks(self, buf: bytes, pos: int) -> tuple[int, bool]:
        """Skip whole chunks from `pos`; (new position, whether the last chunk ended).

        A chunk that has not fully arrived is left in the buffer (the responses here are
        small, so waiting for all of one costs nothing).
        """
        end = len(buf)
        while True:
            line_end = buf.find(b"\r\n", pos)
            if line_end < 0:
                return pos, False
            size = int(buf[pos:line_end].split(b";", 1)[0], 16)
            if size == 0:
                # Trailer fields (none from dockerd), then an empty line.
                trailer_end = buf.find(b"\r\n\r\n", line_end)
                if trailer_end < 0:
                    return pos, False
                return trailer_end + 4, True
            chunk_end = line_end + 2 + size + 2
            if chunk_end > end:
                return pos, False
            pos = chunk_end


@dataclass(frozen=True, slots=True)
class RateResult:
    """Requests answered in a timed window, and what the generator spent on them."""

    requests: int
    seconds: float
    cpu_seconds: float  # the generator's own CPU time (all its processes)
    bad_status: int  # answers whose status was not 200

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def connect(path: str) -> socket.socket:
    """A blocking unix socket with a kernel receive timeout.

    connect() on a blocking unix socket waits while the listener's backlog is full, where
    a non-blocking one fails with EAGAIN; socat listens with a backlog of 5.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    timeval = struct.pack("ll", int(IO_TIMEOUT), 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise LoadError(f"connect {path}: {exc}") from exc
    return sock


def _read_response(sock: socket.socket, framer: ResponseFramer) -> None:
    while True:
        try:
            data = sock.recv(RECV_SIZE)
        except OSError as exc:
            raise LoadError(f"receive: {exc}") from exc
        if not data:
            raise LoadError("connection closed before the response ended")
        if framer.feed(data):
            return


def keepalive_rate(path: str, request: bytes, seconds: float) -> RateResult:
    """One connection, one request at a time, for `seconds`."""
    sock = connect(path)
    framer = ResponseFramer()
    try:
        sock.sendall(request)  # a warm-up exchange opens the upstream side of a proxy
        _read_response(sock, framer)
        count = 0
        cpu_start = time.process_time()
        start = time.perf_counter()
        deadline = start + seconds
        now = start
        while now < deadline:
            for _ in range(32):
                sock.sendall(request)
                _read_response(sock, framer)
            count += 32
            now = time.perf_counter()
        cpu = time.process_time() - cpu_start
    finally:
        sock.close()
    return RateResult(count, now - start, cpu, framer.unexpected_status)


def new_connection_rate(path: str, request: bytes, seconds: float) -> RateResult:
    """A new connection per request: connect, send, read the response, close."""
    framer = ResponseFramer()
    count = 0
    cpu_start = time.process_time()
    start = time.perf_counter()
    deadline = start + seconds
    now = start
    while now < deadline:
        for _ in range(8):
            sock = connect(path)
            try:
                sock.sendall(request)
                _read_response(sock, framer)
            finally:
                sock.close()
        count += 8
        now = time.perf_counter()
    cpu = time.process_time() - cpu_start
    return RateResult(count, now - start, cpu, framer.unexpected_status)


def concurrent_rate(
    path: str, request: bytes, clients: int, seconds: float, workers: int = 2
) -> RateResult:
    """`clients` keep-alive connections, each one request at a time, spread over processes.

    Each worker opens its connections and reports ready; all start together and each runs
    for `seconds`. The rate is the sum of the workers' rates. Requests still in flight at
    the end are not counted.
    """
    workers = max(1, min(workers, clients))
    ctx = multiprocessing.get_context("fork")
    go = ctx.Event()
    pipes: list[multiprocessing.connection.Connection] = []
    procs = []
    for index in range(workers):
        share = clients // workers + (1 if index < clients % workers else 0)
        parent_end, child_end = ctx.Pipe()
        proc = ctx.Process(
            target=_worker, args=(path, request, share, seconds, go, child_end), daemon=True
        )
        proc.start()
        child_end.close()
        pipes.append(parent_end)
        procs.append(proc)
    try:
        for pipe in pipes:  # "ready" (or an error) from each
            if not pipe.poll(IO_TIMEOUT * 2):
                raise LoadError("a generator worker did not get ready")
            message = pipe.recv()
            if isinstance(message, str):
                raise LoadError(message)
        go.set()
        results: list[tuple[int, float, float, int]] = []
        for pipe in pipes:
            if not pipe.poll(seconds + IO_TIMEOUT * 2):
                raise LoadError("a generator worker did not finish")
            message = pipe.recv()
            if isinstance(message, str):
                raise LoadError(message)
            results.append(message)
    finally:
        go.set()
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join()
    window = max(r[1] for r in results)
    rate = sum(r[0] / r[1] for r in results)
    return RateResult(
        requests=round(rate * window),
        seconds=window,
        cpu_seconds=sum(r[2] for r in results),
        bad_status=sum(r[3] for r in results),
    )


def _worker(
    path: str,
    request: bytes,
    clients: int,
    seconds: float,
    go: multiprocessing.synchronize.Event,
    pipe: multiprocessing.connection.Connection,
) -> None:
    try:
        socks = [connect(path) for _ in range(clients)]
        framers = {}
        poller = select.epoll()
        for sock in socks:
            sock.setblocking(False)
            framers[sock.fileno()] = (sock, ResponseFramer())
            poller.register(sock.fileno(), select.EPOLLIN)
        pipe.send(None)
        go.wait()
        count = 0
        cpu_start = time.process_time()
        start = time.perf_counter()
        deadline = start + seconds
        for sock in socks:
            sock.send(request)
        now = start
        while now < deadline:
            for fd, _ in poller.poll(1.0):
                sock, framer = framers[fd]
                data = sock.recv(RECV_SIZE)
                if not data:
                    raise LoadError("a connection closed during the run")
                if framer.feed(data):
                    count += 1
                    sock.send(request)
            now = time.perf_counter()
        cpu = time.process_time() - cpu_start
        bad = sum(framer.unexpected_status for _, framer in framers.values())
        pipe.send((count, now - start, cpu, bad))
        for sock in socks:
            sock.close()
    except Exception as exc:
        pipe.send(f"generator worker: {type(exc).__name__}: {exc}")
