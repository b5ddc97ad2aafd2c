"""Many concurrent connections at once: idle `/events` streams, or thousands of keep-alives.

A `Crowd` opens its connections one after another with blocking connects (a full listen
backlog then waits instead of failing), sends each its request at once, and then watches
all of them from one `epoll` loop: connections that mostly sit idle need no more.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections.abc import Callable

from loadgen import RECV_SIZE, LoadError, ResponseFramer, connect


class Crowd:
    """`count` connections to `path`, each sending `request` once it is open.

    `until_head` waits for each connection's response head only (a stream such as
    `/events` never ends); otherwise for whole responses, counted by a `ResponseFramer`.
    """

    def __init__(self, path: str, count: int, request: bytes, *, until_head: bool) -> None:
        self.path = path
        self.count = count
        self.request = request
        self.until_head = until_head
        self.socks: list[socket.socket] = []
        self.received: dict[int, bytearray] = {}  # fd -> bytes so far (until_head only)
        self.framers: dict[int, ResponseFramer] = {}
        self._round = 1  # responses each connection is due (again() adds one)
        self._poller = select.epoll()
        self._by_fd: dict[int, socket.socket] = {}

    def open(self, timeout: float) -> float:
        """Open every connection and send its request; seconds until every one is answered.

        Raises `LoadError` if not all are answered within `timeout`, saying how many were.
        """
        start = time.perf_counter()
        deadline = start + timeout
        for _ in range(self.count):
            sock = connect(self.path)
            sock.setblocking(False)
            fd = sock.fileno()
            self.socks.append(sock)
            self._by_fd[fd] = sock
            if self.until_head:
                self.received[fd] = bytearray()
            else:
                self.framers[fd] = ResponseFramer()
            self._poller.register(fd, select.EPOLLIN)
            sock.send(self.request)
            self._drain(0)  # read what is ready, so the answers don't pile up meanwhile
            if time.perf_counter() > deadline:
                raise LoadError(f"opened only {len(self.socks)} of {self.count} in {timeout} s")
        self._wait(lambda: self.answered() == self.count, deadline)
        return time.perf_counter() - start

    def answered(self) -> int:
        if self.until_head:
            return sum(1 for data in self.received.values() if b"\r\n\r\n" in data)
        return sum(1 for f in self.framers.values() if f.completed >= self._round)

    def again(self, timeout: float) -> float:
        """Send the request once more on every connection (keep-alive reuse); seconds to all."""
        assert not self.until_head
        self._round += 1
        start = time.perf_counter()
        for sock in self.socks:
            sock.send(self.request)
        self._wait(lambda: self.answered() == self.count, start + timeout)
        return time.perf_counter() - start

    def reached_by(self, needle: bytes, timeout: float) -> tuple[int, float]:
        """(connections whose stream contains `needle`, seconds until all or the timeout)."""
        start = time.perf_counter()

        def count() -> int:
            return sum(1 for data in self.received.values() if needle in data)

        with contextlib.suppress(LoadError):
            self._wait(lambda: count() == self.count, start + timeout)
        return count(), time.perf_counter() - start

    def unexpected_status(self) -> int:
        if self.until_head:
            ok = b"HTTP/1.1 200"
            return sum(1 for data in self.received.values() if not data.startswith(ok))
        return sum(f.unexpected_status for f in self.framers.values())

    def close(self) -> None:
        for sock in self.socks:
            sock.close()
        self.socks.clear()
        self._poller.close()

    def _wait(self, done: Callable[[], bool], deadline: float) -> None:
        while not done():
            left = deadline - time.perf_counter()
            if left <= 0:
                raise LoadError(f"{self.answered()} of {self.count} connections answered in time")
            self._drain(min(left, 0.05))

    def _drain(self, timeout: float) -> None:
        for fd, _ in self._poller.poll(timeout):
            sock = self._by_fd[fd]
            try:
                data = sock.recv(RECV_SIZE)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise LoadError(f"receive: {exc}") from exc
            if not data:
                self._poller.unregister(fd)
                raise LoadError("a connection was closed by the other side")
            if self.until_head:
                self.received[fd] += data
            else:
                self.framers[fd].feed(data)
