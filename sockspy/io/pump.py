"""The pump: drives one client connection's `Conversation` with real sockets.

Two tasks per connection. The client task reads the client, feeds the conversation and,
when the conversation holds a request for decision, drives its `Judgement`: it answers
the gate's look-ups from the daemon (`DaemonLookups`) and hands the decision back.
The daemon task (started when the first allowed request opens the upstream connection)
reads the daemon and feeds the conversation too. Either task may flush either outbox;
each outbox has its own lock and is drained strictly in order, so no byte is reordered
whichever task happens to send it.

After a real `101`, both tasks leave the conversation and relay raw bytes
(`sockspy.io.tunnel`) until both directions have ended.

This class is the error boundary of a connection: whatever goes wrong in it closes this
connection with one audit record, and nothing escapes to the server.
"""

from __future__ import annotations

import enum
import math
import traceback
from collections import Counter
from contextlib import suppress
from typing import Any

import trio

from sockspy.core.deciding.client import Client
from sockspy.core.deciding.decision import Decision, audit_unavailable
from sockspy.core.deciding.gate import GateInForce
from sockspy.core.deciding.judgement import Judgement
from sockspy.core.deciding.lookups import Lookup, LookupFailed
from sockspy.core.docker.bodies import BODY_ENDPOINTS
from sockspy.core.docker.gojson import BodyDecodeError
from sockspy.core.docker.request import Request
from sockspy.core.proxy.conversation import Conversation
from sockspy.core.proxy.lineage import Lineage
from sockspy.core.proxy.outbox import APART, EOF, Outbox
from sockspy.core.records import InternalErrorRecord
from sockspy.core.wire.head import MAX_HEAD_BYTES
from sockspy.io.inspector import DaemonLookups
from sockspy.io.logsink import AuditLog
from sockspy.io.sessions import SessionRecorder
from sockspy.io.sockstream import RECEIVE_SIZE, ByteStream, StreamClosed
from sockspy.io.transcripts import TranscriptSink
from sockspy.io.tunnel import Tunnel, Way
from sockspy.io.upstream import Upstream, UpstreamError, connect

# After sockspy decides to close, read (and drop) what the client still sends for a
# moment, so the kernel does not answer it with a reset that destroys our last response.
LINGER_SECONDS = 1.0
# Small pieces (heads, short bodies) are joined before sending; bulk data never is.
_COALESCE_BELOW = 16 * 1024
_COALESCE_LIMIT = 64 * 1024


class _TimedOut(enum.Enum):
    """What `_receive_client` waited for in vain."""

    HEAD = "the rest of a request head"
    IDLE = "a request on an idle keep-alive connection"


class Pump:
    """Drives one client connection's `Conversation` with real sockets: the error
    boundary of that connection (see the module docstring). It executes what the
    conversation asks (send, open the daemon, decide, tunnel) and decides nothing."""

    def __init__(
        self,
        conn_id: int,
        stream: ByteStream,
        client: Client,
        gate_in_force: GateInForce,  # the policy in force (reloadable), pinned per request
        upstream_address: Upstream,
        log: AuditLog,
        inspector: DaemonLookups | None = None,
        *,
        head_timeout: float | None = None,
        idle_timeout: float | None = None,
        max_head_bytes: int = MAX_HEAD_BYTES,
        tally: Counter[str] | None = None,  # exchanges by decision, for /metrics
        lineage: Lineage | None = None,  # who made which object: the server's, shared
        run_id: str = "0",
        transcripts: TranscriptSink | None = None,  # where recorded sessions are written
    ) -> None:
        self.conv = Conversation(
            conn_id,
            client,
            gate_in_force,
            max_head_bytes=max_head_bytes,
            lineage=lineage,
            run_id=run_id,
        )
        self.client_stream = stream
        self.head_timeout = head_timeout
        self.idle_timeout = idle_timeout
        self.upstream_address = upstream_address
        self.upstream: ByteStream | None = None
        self.inspector = inspector or DaemonLookups(upstream_address)
        self.log = log
        self.tally = tally
        self.draining = False  # the server is shutting down: close once idle
        self._client_lock = trio.Lock()
        self._upstream_lock = trio.Lock()
        self._changed = trio.Event()
        self._client_eof = False
        self._idle_scope: trio.CancelScope | None = None  # the client reader's, while it waits
        self._abort_reason: str | None = None
        self._scope = trio.CancelScope()
        self._nursery: trio.Nursery | None = None
        self._tunnel = Tunnel(self._scope.cancel)  # `run` then records the session
        self.sessions = SessionRecorder(transcripts, self.inspector)

    # -- lifecycle ------------------------------------------------------------------

    async def run(self) -> None:
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery  # the daemon reader starts in it later
                    await self._read_client()  # in this task: one task fewer per connection
        except Exception as exc:  # the connection boundary: log, close, serve on
            self._abort_reason = f"internal error: {exc!r}"
            self.log.emit(
                InternalErrorRecord(
                    event="internal_error",
                    conn_id=self.conv.conn_id,
                    error=repr(exc),
                    traceback=traceback.format_exc(),
                ),
                "error",
            )
        finally:
            with trio.CancelScope(shield=True):
                await self._close_streams()
                if self.conv.tunnel and not self.conv.finished:  # a session: how it ended
                    moved = self._tunnel.moved
                    outcome = await self.sessions.ended(self.conv.tunnel_target)
                    self.conv.tunnel_closed(
                        moved[Way.UP], moved[Way.DOWN], outcome, self._abort_reason
                    )
                self.sessions.discard_unused()
            self._emit_records()
            self.log.emit(self.conv.connection_closed(self._abort_reason))

    def stop(self, reason: str) -> None:
        """Close this connection now (server shutdown past its grace period)."""
        if self._abort_reason is None:
            self._abort_reason = reason
        self._scope.cancel()

    def drain(self) -> None:
        """The server stops: close now if idle, else as soon as the exchange ends."""
        self.draining = True
        if self.conv.idle:
            self.stop("server shutdown")

    async def _close_streams(self) -> None:
        if self.upstream is not None:
            with suppress(StreamClosed):
                await self.upstream.aclose()
        if self._abort_reason is None and not self._client_eof:
            await self._linger()
        with suppress(StreamClosed):
            await self.client_stream.aclose()

    async def _linger(self) -> None:
        with suppress(StreamClosed):
            await self.client_stream.send_eof()
            with trio.move_on_after(LINGER_SECONDS):
                while await self.client_stream.receive_some(RECEIVE_SIZE):
                    pass

    def _abort(self, reason: str) -> None:
        if self._abort_reason is None:
            self._abort_reason = reason
        self._scope.cancel()

    # -- the two readers --------------------------------------------------------------

    async def _read_client(self) -> None:
        conv = self.conv
        while not conv.finished:
            if conv.pending_decision is not None:
                conv.decided(*await self._decide())
                await self._flush()
            elif conv.tunnel:
                await self._tunnel_client_to_daemon()
                return
            elif conv.client_paused or self._client_eof:
                await self._wait_for_change()
            else:
                data = await self._receive_client()
                if data is _TimedOut.IDLE:
                    self.stop(f"idle timeout: no request for {self.idle_timeout:g} s")
                    return
                if data is _TimedOut.HEAD:
                    conv.head_timed_out(self.head_timeout or 0)
                elif data:
                    conv.client_data(data)
                else:
                    self._client_eof = True
                    self._watch_hang_up()
                    conv.client_eof()
                await self._flush()

    async def _read_daemon(self, upstream: ByteStream) -> None:
        conv = self.conv
        while not conv.finished:
            if conv.tunnel:
                await self._tunnel_daemon_to_client(upstream)
                return
            data = await self._receive(upstream)
            if data:
                conv.upstream_data(data)
            else:
                conv.upstream_eof()
            await self._flush()

    async def _receive_client(self) -> bytes | _TimedOut:
        """The client's next bytes, or which timeout ran out.

        The head timeout runs only while a request head is incomplete (from when sockspy
        began waiting for its rest); the idle timeout only between exchanges, with
        nothing pending either way. Neither runs on bodies, responses or streams.
        """
        started = self.conv.head_started
        if started is not None and self.head_timeout is not None:
            with trio.move_on_after(started + self.head_timeout - self.conv.clock()):
                return await self._receive(self.client_stream)
            return _TimedOut.HEAD
        if self.idle_timeout is None:
            return await self._receive(self.client_stream)
        # The reader waits here during exchanges too (a client may pipeline): the idle
        # deadline is set when the connection becomes idle, here or by `_flush`.
        self._idle_scope = trio.CancelScope()
        try:
            with self._idle_scope:
                self._arm_idle_timeout()
                return await self._receive(self.client_stream)
        finally:
            self._idle_scope = None
        return _TimedOut.IDLE

    def _arm_idle_timeout(self) -> None:
        """Start the idle timeout if the client reader waits and nothing is under way."""
        scope = self._idle_scope
        if scope is not None and self.conv.idle and scope.deadline == math.inf:
            assert self.idle_timeout is not None
            scope.deadline = trio.current_time() + self.idle_timeout

    def _watch_hang_up(self) -> None:
        """The client half-closed: from now on, close the connection if the client goes
        altogether. An answer or a stream it still waits for is never cut; one nobody
        waits for would hold two descriptors for ever."""
        assert self._nursery is not None
        self._nursery.start_soon(self._close_on_hang_up)

    async def _close_on_hang_up(self) -> None:
        await self.client_stream.wait_hung_up()
        self._abort("client gone: hung up after its half-close")

    async def _decide(self) -> tuple[Decision, tuple[tuple[Lookup, Any], ...]]:
        """Drive the pending request's judgement, answering its look-ups from the daemon
        (the gate is the one pinned when the request's head was read); the decision, and
        each look-up with its answer."""
        request = self.conv.pending_decision
        assert request is not None
        log = self.log
        if log.durability == "strict" and not log.writable:
            why = f": {log.failing}" if log.failing else " (its writer is behind or stalled)"
            return audit_unavailable(why), ()
        if request.body is not None and len(request.body) > OFF_LOOP_BODY:
            # A large body (a build's context: decompressed, its tar walked) is decoded in
            # a worker thread, not on the loop every other client shares. The request
            # keeps the result (or the error) for the checks that read it.
            await trio.to_thread.run_sync(_decode_quietly, request)
        judgement = Judgement(self.conv.gate, request, self.conv.client)
        step = judgement.start()
        while not isinstance(step, Decision):
            try:
                answer = await self.inspector.answer(step)
            except LookupFailed as exc:
                return judgement.failed(str(exc)), judgement.answered
            step = judgement.answer(answer)
        if step.transcript is not None and step.allowed and request.hijacks:
            record_id = self.conv.pending_record_id or "unknown"
            step = await self.sessions.prepare(request, step, record_id)
        return step, judgement.answered

    @staticmethod
    async def _receive(stream: ByteStream) -> bytes:
        """The next bytes, or b"" at end of stream (a reset counts as an end)."""
        try:
            return await stream.receive_some(RECEIVE_SIZE)
        except StreamClosed:
            return b""

    async def _wait_for_change(self) -> None:
        self._changed = trio.Event()
        await self._changed.wait()

    def _wake(self) -> None:
        self._changed.set()  # a no-op unless the client reader waits on it

    # -- flushing the outboxes ----------------------------------------------------------

    async def _flush(self) -> None:
        # Locks are taken only when there is something to send: each acquisition is a
        # trip through the scheduler, and most flushes have one direction empty.
        if self.conv.to_upstream:
            await self._flush_upstream()
        if self.conv.to_client:
            await self._flush_client()
        self._emit_records()
        if self.log.durability == "block" and not self.log.writable:
            await self.log.wait_for_room()  # the byte path waits for the log, bounded
        self._wake()
        self._arm_idle_timeout()
        conv = self.conv
        if conv.finished and not conv.to_client:
            self._scope.cancel()
        elif self.draining and conv.idle:
            self.stop("server shutdown")

    async def _flush_upstream(self) -> None:
        conv = self.conv
        async with _Held(self._upstream_lock):
            while conv.to_upstream:
                item = conv.to_upstream[0]
                if self.upstream is None:
                    if item is EOF:
                        conv.to_upstream.popleft()
                        continue
                    if not await self._open_upstream():
                        return
                await self._send(self.upstream, conv.to_upstream, "daemon")

    async def _flush_client(self) -> None:
        async with _Held(self._client_lock):
            await self._send(self.client_stream, self.conv.to_client, "client")

    async def _send(self, stream: ByteStream | None, outbox: Outbox, peer: str) -> None:
        assert stream is not None
        while outbox:
            item = outbox.popleft()
            if item is APART:
                continue
            if outbox and isinstance(item, bytes) and len(item) < _COALESCE_BELOW:
                item = _coalesce(item, outbox)
            try:
                if item is EOF:
                    await stream.send_eof()
                else:
                    assert isinstance(item, bytes)
                    await stream.send_all(item)
            except StreamClosed as exc:
                self._abort(f"{peer} write failed: {exc!r}")
                await trio.lowlevel.checkpoint()

    async def _open_upstream(self) -> bool:
        try:
            self.upstream = await connect(self.upstream_address)
        except UpstreamError as exc:
            self.conv.upstream_unreachable(str(self.upstream_address), str(exc))
            return False
        assert self._nursery is not None
        self._nursery.start_soon(self._read_daemon, self.upstream)
        return True

    def _emit_records(self) -> None:
        records = self.conv.records
        tally = self.tally
        for record in records:
            self.log.emit(record)
            if tally is not None and record["event"] == "exchange":
                tally[record["decision"] or "none"] += 1
        records.clear()

    # -- hijacked sessions ----------------------------------------------------------

    async def _tunnel_client_to_daemon(self) -> None:
        await self._flush()
        recorder = self.sessions.recorder
        tap = recorder.input if recorder is not None and recorder.transcript.with_input else None
        session = self.conv.session
        if tap is not None and session is not None:
            tap(session.early_up)
        if not self._client_eof:
            assert self.upstream is not None
            if await self._tunnel.relay(self.client_stream, self.upstream, Way.UP, tap):
                self._client_eof = True
                self._watch_hang_up()
        self._tunnel.end(Way.UP)

    async def _tunnel_daemon_to_client(self, upstream: ByteStream) -> None:
        await self._flush()
        recorder = self.sessions.recorder
        tap = recorder.output if recorder is not None else None
        session = self.conv.session
        if tap is not None and session is not None:
            tap(session.early_down)
        await self._tunnel.relay(upstream, self.client_stream, Way.DOWN, tap)


def _coalesce(first: bytes, outbox: Outbox) -> bytes:
    """`first` joined with the bytes that follow it in `outbox` (up to an EOF or 64 KiB),
    so that a response head and its small body leave in one send, not two."""
    parts = [first]
    size = len(first)
    while outbox and size < _COALESCE_LIMIT:
        item = outbox[0]
        if item is EOF or item is APART:
            break
        assert isinstance(item, bytes)
        parts.append(item)
        size += len(item)
        outbox.popleft()
    return b"".join(parts)


class _Held:
    """`async with _Held(lock)`: take a trio lock without a scheduler trip when it is free.

    `async with lock` always yields once; an outbox lock is nearly always free, and the
    stream operations inside keep the task fair.
    """

    __slots__ = ("_lock",)

    def __init__(self, lock: trio.Lock) -> None:
        self._lock = lock

    async def __aenter__(self) -> None:
        try:
            self._lock.acquire_nowait()
        except trio.WouldBlock:
            await self._lock.acquire()

    async def __aexit__(self, *exc_info: object) -> None:
        self._lock.release()


# Bodies larger than this are decoded off the event loop (`_decode_quietly`).
OFF_LOOP_BODY = 256 * 1024


def _decode_quietly(request: Request) -> None:
    """Decode `request`'s body into its cache; an undecodable one is cached as its error,
    which the checks raise when they read it."""
    if request.endpoint in BODY_ENDPOINTS:
        with suppress(BodyDecodeError):
            request.decoded_body()
