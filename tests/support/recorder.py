"""A recording relay: forwards a unix socket to another, keeping every byte both ways.

Placed in front of sockspy (as the client sees it) and behind it (as the daemon sees it),
two recorders show whether sockspy changed, dropped or reordered anything.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field


@dataclass
class Recording:
    """One relayed connection: what went up (to the server) and what came down."""

    up: bytearray = field(default_factory=bytearray)
    down: bytearray = field(default_factory=bytearray)


class Recorder:
    def __init__(self, listen_path: str, target_path: str) -> None:
        self.listen_path = listen_path
        self.target_path = target_path
        self.recordings: list[Recording] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(listen_path)
        self._server.listen(128)
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.target_path)
            recording = Recording()
            with self._lock:
                self.recordings.append(recording)
            done = threading.Barrier(2, action=lambda c=client, u=upstream: (c.close(), u.close()))
            for src, dst, buf in (
                (client, upstream, recording.up),
                (upstream, client, recording.down),
            ):
                thread = threading.Thread(
                    target=self._relay, args=(src, dst, buf, done), daemon=True
                )
                thread.start()
                self._threads.append(thread)

    @staticmethod
    def _relay(
        src: socket.socket, dst: socket.socket, buf: bytearray, done: threading.Barrier
    ) -> None:
        try:
            while data := src.recv(65536):
                buf += data
                dst.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
        with contextlib.suppress(threading.BrokenBarrierError):
            done.wait(timeout=120)

    def close(self, timeout: float = 30.0) -> None:
        self._server.close()
        for thread in self._threads:
            thread.join(timeout)

    def pairs(self) -> list[tuple[bytes, bytes]]:
        with self._lock:
            return sorted((bytes(r.up), bytes(r.down)) for r in self.recordings)
