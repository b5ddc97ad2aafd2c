"""The server: fronts, accept loops, signals, and a graceful stop.

On SIGINT or SIGTERM sockspy stops accepting, closes idle keep-alive connections, lets
open exchanges and streams run for the grace period, then closes what is left and
returns. A second signal skips the rest of the grace period.

SIGHUP reloads the policy and the fronts' TLS certificates (`sockspy.io.reload`). Each
connection is first counted against the connection limits (`sockspy.core.serving.limits`) and
turned away with a JSON error if over one (`sockspy.io.refuse`). An optional admin
address serves health and counters (`sockspy.io.admin`), never the proxied fronts.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import itertools
import secrets
import signal
import ssl
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from sockspy.core.deciding.client import Client, client_key
from sockspy.core.deciding.gate import Gate, GateInForce
from sockspy.core.proxy.lineage import Lineage
from sockspy.core.records import (
    AcceptFailedRecord,
    ConnectionRefusedRecord,
    ListeningRecord,
    PolicyFields,
    StoppedRecord,
    StoppingRecord,
    TlsRefusedRecord,
    UpstreamRecord,
    WorkerMetricsRecord,
)
from sockspy.core.serving.address import ListenAddress
from sockspy.core.serving.limits import (
    ConnectionLimits,
    RateLimitedGate,
    RateLimiter,
    Refusal,
)
from sockspy.core.wire.head import MAX_HEAD_BYTES
from sockspy.io.admin import Admin
from sockspy.io.inspector import DaemonLookups
from sockspy.io.listeners import Front, close_fronts, open_fronts
from sockspy.io.logsink import AuditLog
from sockspy.io.peer import identify
from sockspy.io.peer_container import PeerContainers
from sockspy.io.pump import Pump
from sockspy.io.refuse import refuse
from sockspy.io.reload import CertReloader, LoadedPolicy, Loader, PolicyReloader
from sockspy.io.sdnotify import notify
from sockspy.io.sockstream import ByteStream, SockStream, probe_keep_alive
from sockspy.io.tls import ServingTls, TlsHandshakeError, accept_tls
from sockspy.io.transcripts import TranscriptSink
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
    tls: ServingTls | None = None  # TLS (or mTLS) on tcp fronts; unix fronts stay plain
    reload: Loader | None = None  # SIGHUP loads the policy again with this
    reload_tls: Callable[[], ServingTls] | None = None  # ... and the certificates with this
    policy_fields: PolicyFields = field(default_factory=lambda: PolicyFields())  # for the log
    max_connections: int | None = None  # open client connections, in total
    max_connections_per_client: int | None = None  # ... per unix uid or tcp address
    max_refusals: int | None = None  # refusals answered at once; more are closed unanswered
    head_timeout: float | None = 30.0  # only while a request head is incomplete
    idle_timeout: float | None = 600.0  # only between exchanges on a keep-alive connection
    max_head_bytes: int = MAX_HEAD_BYTES
    rate_limit: float | None = None  # requests a second per client (a token bucket)
    rate_burst: float | None = None  # the bucket's size (default: the rate)
    admin: list[ListenAddress] = field(default_factory=list)  # /healthz, /metrics
    lineage: Lineage | None = None  # who made which object (rebuilt from an old log)
    transcript_dir: str | None = None  # where recorded sessions' asciicast files go
    # A worker of `--workers`: how often it sends its counters to the supervisor (which
    # serves /metrics for all of them) through its audit pipe; None: it is no worker.
    report_seconds: float | None = None


class Server:
    """The serving process: binds the fronts, identifies each client, admits it (limits),
    runs one `Pump` per connection, reloads the policy and certificates on SIGHUP, and
    drains on SIGTERM. Owns what connections share: the gate in force, the lineage, the
    daemon look-ups and the audit log."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.log = config.log
        self.pumps: set[Pump] = set()
        self._ids = itertools.count(1)
        # Record ids are "<run>-<conn>-<request>": `run` tells one server's run from the
        # next in a log that outlives it.
        self.run_id = secrets.token_hex(4)
        self.lineage = config.lineage if config.lineage is not None else Lineage()
        self.inspector = DaemonLookups(config.upstream)
        self.directory = PeerContainers(self.inspector)  # names a client's container
        self.transcripts = (
            TranscriptSink(config.transcript_dir) if config.transcript_dir is not None else None
        )
        self._accepting = trio.CancelScope()
        self._all_closed = trio.Event()
        self.stopping = False
        self.started = time.monotonic()
        self.limits = ConnectionLimits(
            config.max_connections, config.max_connections_per_client, config.max_refusals
        )
        self.rate_limiter = (
            RateLimiter(config.rate_limit, config.rate_burst) if config.rate_limit else None
        )
        self.gates = GateInForce(self._wrap(config.gate))
        self.reloader = PolicyReloader(
            self.gates,
            LoadedPolicy(config.gate, config.policy_fields),
            config.reload,
            self.log,
            self._wrap,
        )
        self.certs = (
            CertReloader(config.tls, config.reload_tls, self.log)
            if config.tls is not None
            else None
        )
        self.counters = {"connections_accepted": 0, "connections_refused": 0}
        self.exchanges: Counter[str] = Counter()  # by decision

    def _wrap(self, gate: Gate) -> Gate:
        """The gate as served: the policy, behind the rate limit if there is one."""
        if self.rate_limiter is None:
            return gate
        return RateLimitedGate(gate, self.rate_limiter)

    async def run(
        self, *, task_status: trio.TaskStatus[list[Front]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        config = self.config
        fronts = await open_fronts(config.listen, config.socket_mode, config.socket_group)
        try:
            admin_fronts = await open_fronts(config.admin, config.socket_mode, config.socket_group)
        except BaseException:
            await close_fronts(fronts)
            raise
        try:
            for front in fronts:
                self.log.emit(ListeningRecord(event="listening", address=front.name))
            for front in admin_fronts:
                self.log.emit(ListeningRecord(event="listening", address=front.name, admin=True))
            self.log.emit(UpstreamRecord(event="upstream", address=str(config.upstream)))
            if self.certs is not None:
                self.certs.announce()
            notify("READY=1")  # systemd's Type=notify: every front listens
            async with trio.open_nursery() as handlers:
                with (
                    trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals,
                    self._hangups() as hangups,
                ):
                    async with trio.open_nursery() as acceptors:
                        self.directory.nursery = acceptors  # its events watcher runs here
                        for front in fronts:
                            acceptors.start_soon(self._accept_loop, front, handlers)
                        admin = Admin(
                            config.upstream, self.health, self.metrics, lambda: self.exchanges
                        )
                        for front in admin_fronts:
                            acceptors.start_soon(admin.serve, front)
                        if hangups is not None:
                            acceptors.start_soon(self._reload_on_hangup, hangups)
                        if config.report_seconds is not None:
                            acceptors.start_soon(self._report, config.report_seconds)
                        acceptors.start_soon(self._wait_for_signal, signals, acceptors)
                        task_status.started(fronts)
                    await close_fronts(fronts + admin_fronts)
                    await self._drain(signals)
        finally:
            await close_fronts(fronts + admin_fronts)
            if self.transcripts is not None:
                await trio.to_thread.run_sync(self.transcripts.close)
        self.log.emit(StoppedRecord(event="stopped"))

    async def _report(self, seconds: float) -> None:
        """A worker's counters, for the supervisor's /metrics (it logs none of them)."""
        while True:
            report: WorkerMetricsRecord = {
                "event": "worker_metrics",
                "metrics": self.metrics(),
                "exchanges": dict(self.exchanges),
                "health": self.health(),
            }
            self.log.emit(report)
            await trio.sleep(seconds)

    def _hangups(self) -> Any:
        """SIGHUP's receiver while the server runs (a no-op context with nothing to reload)."""
        if self.config.reload is None and (self.certs is None or self.certs.loader is None):
            return contextlib.nullcontext()
        return trio.open_signal_receiver(signal.SIGHUP)

    async def _reload_on_hangup(self, hangups: AsyncIterator[int]) -> None:
        async for _ in hangups:
            # systemd shows the unit "reloading" until READY=1 (and Type=notify-reload waits).
            now_us = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
            notify(f"RELOADING=1\nMONOTONIC_USEC={now_us}")
            await self.reloader.reload()
            if self.certs is not None:
                await self.certs.reload()
            notify("READY=1")

    @property
    def tls(self) -> ssl.SSLContext | None:
        """The fronts' TLS context in force: the latest one SIGHUP loaded."""
        return self.certs.context if self.certs is not None else None

    def health(self) -> dict[str, Any]:
        """What /healthz says besides the daemon's reachability."""
        return {
            "policy": self.reloader.describe(),
            **({"tls": self.certs.describe()} if self.certs is not None else {}),
            "open_connections": len(self.pumps),
            "uptime_s": round(time.monotonic() - self.started, 3),
            "stopping": self.stopping,
        }

    def metrics(self) -> dict[str, Any]:
        limiter = self.rate_limiter
        return {
            **self.counters,
            "open_connections": len(self.pumps),
            "tls_handshakes": self.limits.handshaking,
            "rate_limited": limiter.limited if limiter is not None else 0,
            "policy_reloads": self.reloader.reloads,
            "policy_reload_failures": self.reloader.failures,
            "tls_reloads": self.certs.reloads if self.certs is not None else 0,
            "tls_reload_failures": self.certs.failures if self.certs is not None else 0,
            **self._cert_end(),
            "uptime_s": round(time.monotonic() - self.started, 3),
        }

    def _cert_end(self) -> dict[str, Any]:
        """The server certificate's end of validity as a Unix time, if there is one."""
        not_after = self.certs.describe().get("cert_not_after") if self.certs else None
        if not not_after:
            return {}
        stamp = datetime.datetime.fromisoformat(not_after.replace("Z", "+00:00"))
        return {"tls_cert_not_after": int(stamp.timestamp())}

    async def _wait_for_signal(self, signals: AsyncIterator[int], acceptors: trio.Nursery) -> None:
        async for signum in signals:
            self.stopping = True
            notify("STOPPING=1")
            self.log.emit(
                StoppingRecord(
                    event="stopping",
                    signal=signal.Signals(signum).name,
                    open_connections=len(self.pumps),
                    grace_period_s=self.config.grace_period,
                )
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
                failed = AcceptFailedRecord(
                    event="accept_failed", address=front.name, error=exc.strerror
                )
                self.log.emit(failed, "warning")
                await trio.sleep(0.1)
                continue
            handlers.start_soon(self._handle, stream, front)

    async def _handle(self, stream: trio.SocketStream, front: Front) -> None:
        conn_id = next(self._ids)
        client_stream: ByteStream
        if front.kind == "tcp":
            probe_keep_alive(stream.socket)
        tls = self.tls
        if tls is not None and front.kind == "tcp":
            refusal = self.limits.begin_handshake()
            if refusal is not None:  # no TLS yet to say it in: the connection is closed
                self._refused(conn_id, identify(stream, front.name), refusal)
                await trio.aclose_forcefully(stream)
                return
            try:  # in this connection's task: a slow handshake never holds up accept
                client_stream, client = await accept_tls(stream, tls, front.name)
            except TlsHandshakeError as exc:
                refused: TlsRefusedRecord = {
                    "event": "tls_refused", "conn_id": conn_id, **exc.client.fields(),
                    "reason": str(exc),
                }  # fmt: skip
                self.log.emit(refused, "warning")
                return
            finally:
                self.limits.end_handshake()
        else:
            client_stream = SockStream.adopt(stream)
            client = identify(client_stream, front.name)
        key = client_key(client)
        refusal = self.limits.admit(key)
        if refusal is not None:
            self._refused(conn_id, client, refusal)
            if not self.limits.begin_refusal():  # a flood: no descriptor held to answer it
                await client_stream.aclose()
                return
            try:
                await refuse(client_stream, refusal)
            finally:
                self.limits.end_refusal()
            return
        self.counters["connections_accepted"] += 1
        try:
            client = await self.directory.complete(client)
            await self._pump(conn_id, client_stream, client)
        finally:
            self.limits.release(key)

    def _refused(self, conn_id: int, client: Client, refusal: Refusal) -> None:
        self.counters["connections_refused"] += 1
        record: ConnectionRefusedRecord = {
            "event": "connection_refused", "conn_id": conn_id, **client.fields(),
            "status": refusal.status, "code": refusal.code, "reason": refusal.reason,
        }  # fmt: skip
        self.log.emit(record, "warning")

    async def _pump(self, conn_id: int, client_stream: ByteStream, client: Client) -> None:
        config = self.config
        pump = Pump(
            conn_id,
            client_stream,
            client,
            self.gates,
            config.upstream,
            self.log,
            self.inspector,
            head_timeout=config.head_timeout,
            idle_timeout=config.idle_timeout,
            max_head_bytes=config.max_head_bytes,
            tally=self.exchanges,
            lineage=self.lineage,
            run_id=self.run_id,
            transcripts=self.transcripts,
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
