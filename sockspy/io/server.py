"""The server: fronts, accept loops, signals, and a graceful stop.

On SIGINT or SIGTERM sockspy stops accepting, closes idle keep-alive connections, lets
open exchanges and streams run for the grace period, then closes what is left and
returns. A second signal skips the rest of the grace period.
"""

from __future__ import annotations

import errno
import itertools
import signal
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import trio

from sockspy.core.address import ListenAddress
from sockspy.core.conversation import MAX_INSPECTED_BODY
from sockspy.core.decision import Gate
from sockspy.io.inspector import ContainerInspector
from sockspy.io.listeners import Front, close_fronts, open_fronts
from sockspy.io.logsink import AuditLog
from sockspy.io.peer import identify
from sockspy.io.pump import Pump
from sockspy.io.sdnotify import notify
from sockspy.io.sockstream import ByteStream, SockStream
from sockspy.io.tls import TlsHandshakeError, accept_tls
from sockspy.io.upstream import Upstream

_ACCEPT_RETRY = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


@dataclass(slots=True)
class ServeConfig:
    listen: list[ListenAddress]
    upstream: Upstream
    gate: Gate
    log: AuditLog
    socket_mode: int = 0o660
    socket_group: str | None = None
    grace_period: float = 10.0
    max_body_bytes: int = MAX_INSPECTED_BODY
    extra: dict[str, object] = field(default_factory=dict)
    tls: ssl.SSLContext | None = None  # TLS (or mTLS) on tcp fronts; unix fronts stay plain


class Server:
    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.log = config.log
        self.pumps: set[Pump] = set()
        self._ids = itertools.count(1)
        self.inspector = ContainerInspector(config.upstream)
        self._accepting = trio.CancelScope()
        self._all_closed = trio.Event()
        self.stopping = False

    async def run(
        self, *, task_status: trio.TaskStatus[list[Front]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        config = self.config
        fronts = await open_fronts(config.listen, config.socket_mode, config.socket_group)
        try:
            for front in fronts:
                self.log.emit({"event": "listening", "address": front.name})
            self.log.emit({"event": "upstream", "address": str(config.upstream)})
            notify("READY=1")  # systemd's Type=notify: every front listens
            async with trio.open_nursery() as handlers:
                with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async with trio.open_nursery() as acceptors:
                        for front in fronts:
                            acceptors.start_soon(self._accept_loop, front, handlers)
                        acceptors.start_soon(self._wait_for_signal, signals, acceptors)
                        task_status.started(fronts)
                    await close_fronts(fronts)
                    await self._drain(signals)
        finally:
            await close_fronts(fronts)
        self.log.emit({"event": "stopped"})

    async def _wait_for_signal(self, signals: AsyncIterator[int], acceptors: trio.Nursery) -> None:
        async for signum in signals:
            self.stopping = True
            notify("STOPPING=1")
            self.log.emit(
                {
                    "event": "stopping",
                    "signal": signal.Signals(signum).name,
                    "open_connections": len(self.pumps),
                    "grace_period_s": self.config.grace_period,
                }
            )
            acceptors.cancel_scope.cancel()
            return

    async def _drain(self, signals: AsyncIterator[int]) -> None:
        for pump in list(self.pumps):
            pump.drain()
        if self.pumps:
            with trio.move_on_after(self.config.grace_period):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._wait_closed, nursery)
                    nursery.start_soon(self._second_signal, signals, nursery)
        for pump in list(self.pumps):
            pump.stop("server shutdown: grace period over")

    async def _wait_closed(self, nursery: trio.Nursery) -> None:
        while self.pumps:
            await self._all_closed.wait()
        nursery.cancel_scope.cancel()

    async def _second_signal(self, signals: AsyncIterator[int], nursery: trio.Nursery) -> None:
        async for _ in signals:
            nursery.cancel_scope.cancel()
            return

    async def _accept_loop(self, front: Front, handlers: trio.Nursery) -> None:
        while True:
            try:
                stream = await front.listener.accept()
            except OSError as exc:
                if exc.errno not in _ACCEPT_RETRY:
                    raise
                self.log.emit(
                    {"event": "accept_failed", "address": front.name, "error": exc.strerror},
                    "warning",
                )
                await trio.sleep(0.1)
                continue
            handlers.start_soon(self._handle, stream, front)

    async def _handle(self, stream: trio.SocketStream, front: Front) -> None:
        conn_id = next(self._ids)
        client_stream: ByteStream
        if self.config.tls is not None and front.kind == "tcp":
            try:  # in this connection's task: a slow handshake never holds up accept
                client_stream, client = await accept_tls(stream, self.config.tls, front.name)
            except TlsHandshakeError as exc:
                self.log.emit(
                    {"event": "tls_refused", "conn_id": conn_id, **exc.client.fields(),
                     "reason": str(exc)}, "warning",
                )  # fmt: skip
                return
        else:
            client_stream = SockStream.adopt(stream)
            client = identify(client_stream, front.name)
        pump = Pump(
            conn_id,
            client_stream,
            client,
            self.config.gate,
            self.config.upstream,
            self.log,
            self.inspector,
            max_body_bytes=self.config.max_body_bytes,
        )
        self.pumps.add(pump)
        if self.stopping:  # a handshake that ended after the drain began
            pump.drain()
        try:
            await pump.run()
        finally:
            self.pumps.discard(pump)
            if not self.pumps:
                self._all_closed.set()
                self._all_closed = trio.Event()
