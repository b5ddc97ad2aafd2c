"""One client connection, as a sans-IO state machine.

Theory of operation
-------------------
The I/O layer feeds bytes in (`client_data`, `upstream_data`) and end-of-stream
(`client_eof`, `upstream_eof`); the conversation answers by appending to two ordered
outboxes, `to_upstream` and `to_client` (bytes, or `EOF` for a half-close), and to
`records` (audit records). It never re-serializes: every byte it puts in an outbox is a
byte it was given, except the responses sockspy makes itself (denials and errors) and
what a tenant's decision adds (`Decision.mutation`: an owner label or filter), and a
redacted inspect or list answer (`Decision.redact`), held whole, rewritten, re-framed.

Requests (client -> daemon) are read one at a time (`sockspy.core.proxy.client_side`),
and responses (daemon -> client) in the same order (`sockspy.core.proxy.daemon_side`);
each side has its state (`sockspy.core.proxy.states`, with the table of
its moves), and each exchange its phase (the third table there); what belongs to one
request (its held bytes, decision, response plan, session) lives on its `Exchange`.

`DECIDING` stops all parsing: the I/O layer sees `pending_decision`, asks the gate, and
calls `decided()`. So nothing of request N+1 is even parsed, let alone forwarded, before
request N is decided. A request with an `Upgrade` header stops parsing until its
response: after a real `101` the connection becomes a tunnel and the held bytes are
released to the daemon; after anything else parsing resumes (dockerd ignores Upgrade
there). Bytes that make no sense end in `NO_MORE_REQUESTS`: a 400 is queued and nothing
more of that connection is parsed.

Responses (daemon -> client) come back in request order. `_queue` holds the exchanges
that still owe the client a response, forwarded ones and local ones (denials and errors
made by sockspy) alike. A local response is released only when it reaches the front of
the queue, so a denial never overtakes the response to an earlier request.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from sockspy.core.deciding.client import Client, client_key
from sockspy.core.deciding.decision import Decision
from sockspy.core.deciding.gate import Gate, GateInForce
from sockspy.core.deciding.lookups import Lookup
from sockspy.core.docker import hijack, objects, sessions, summary
from sockspy.core.docker.request import Request
from sockspy.core.proxy import daemon_side, responses
from sockspy.core.proxy.client_side import RequestReader
from sockspy.core.proxy.daemon_side import ResponseReader
from sockspy.core.proxy.exchange import Exchange, Session
from sockspy.core.proxy.lineage import Lineage
from sockspy.core.proxy.outbox import APART, EOF, Outbox
from sockspy.core.proxy.recorder import Recorder
from sockspy.core.proxy.responses import Withheld
from sockspy.core.proxy.states import (
    READING_BODY,
    REQUEST_MOVES,
    Phase,
    RequestState,
    ResponseState,
    move,
)
from sockspy.core.records import Record
from sockspy.core.wire.errors import error_response
from sockspy.core.wire.head import MAX_HEAD_BYTES, ProtocolError, RequestHead


class Conversation:
    """One client connection, sans-IO. Feed it `client_data`/`upstream_data` and
    `client_eof`/`upstream_eof`; send what it puts in `to_upstream`/`to_client`; answer
    `pending_decision` with `decided`; write out `records`.

    It keeps what is the connection's: its two sides' readers (`client_side`,
    `daemon_side`: bytes in, heads and body pieces out), what is forwarded, held or
    discarded, the order of responses (`_queue`), half-close, and the switch to a
    tunnel. What is one request's own lives on its `Exchange`. A record is a side
    product: nothing on the record path (`sockspy.core.proxy.recorder`) can cost the
    client a byte or the connection.

    Args:
        gate_in_force: the policy in force; each request head pins its current gate.
        lineage: the server-wide memory of who made which object (shared; written once
            per recorded exchange, by `Lineage.link`).
        run_id: the first part of this connection's record ids ("<run>-<conn>-<request>").
    """

    def __init__(
        self,
        conn_id: int,
        client: Client,
        gate_in_force: GateInForce,
        clock: Callable[[], float] = time.monotonic,
        max_head_bytes: int = MAX_HEAD_BYTES,
        lineage: Lineage | None = None,
        run_id: str = "0",
    ) -> None:
        self.conn_id = conn_id
        self.client = client
        self._client_key = client_key(client)  # whose share of held answers it takes
        self.record_prefix = f"{run_id}-{conn_id}-"
        self.recorder = Recorder(conn_id, client, clock, lineage, self.record_prefix)
        self.records = self.recorder.records  # what the I/O layer writes out (and clears)
        # The policy in force (replaced whole by a reload); each new head pins
        # `gate_in_force.current` as `gate`, whose body limit and decision apply to it.
        self.gate_in_force = gate_in_force
        self.gate: Gate = gate_in_force.current
        self.clock = clock
        self.to_upstream: Outbox = deque()
        self.to_client: Outbox = deque()
        self.state = RequestState.HEAD  # moved only by `_to` (checked against the table)
        self.finished = False  # nothing more will be exchanged: close both sides
        self.close_reason = "open"
        self.started = clock()
        self.client_bytes = 0
        self.daemon_bytes = 0

        self._client = RequestReader(max_head_bytes, clock)  # the client's side
        self._requests = 0
        self._current: Exchange | None = None  # the request being read
        self._queue: deque[Exchange] = deque()  # exchanges owing the client a response

        self._daemon = ResponseReader()  # the daemon's side: bytes in, response events out
        self._upgrade_exchange: Exchange | None = None  # forwarded with Upgrade, unanswered
        self._tunnel_exchange: Exchange | None = None  # the exchange whose 101 made the tunnel

    def _to(self, state: RequestState) -> None:
        self.state = move(self.state, state, REQUEST_MOVES)

    @property
    def response_state(self) -> ResponseState:
        return self._daemon.state

    # -- properties the I/O layer polls ---------------------------------------------

    @property
    def head_started(self) -> float | None:
        """Since when a partial request head has waited (None: none is waiting)."""
        return self._client.head_started

    @property
    def pending_decision(self) -> Request | None:
        """The request awaiting the gate's decision (`decided`), if any."""
        current = self._current
        return (
            current.request if current is not None and self.state is RequestState.DECIDING else None
        )

    @property
    def session(self) -> Session | None:
        """The session of the tunnel this connection became, if it did."""
        exchange = self._tunnel_exchange
        return exchange.session if exchange is not None else None

    @property
    def tunnel(self) -> bool:
        return self.state is RequestState.TUNNEL

    @property
    def client_paused(self) -> bool:
        """Do not read the client now (a decision or an upgrade response is awaited)."""
        return self.state in (RequestState.DECIDING, RequestState.AWAIT_UPGRADE)

    @property
    def idle(self) -> bool:
        """Between exchanges on a keep-alive connection: safe to close."""
        return (
            self.state is RequestState.HEAD
            and not self._client.buffer
            and not self._queue
            and self._current is None
            and not self.finished
        )

    @property
    def awaiting_response(self) -> bool:
        return any(ex.local is None for ex in self._queue)

    # -- client side ----------------------------------------------------------------

    def client_data(self, data: bytes) -> None:
        self.client_bytes += len(data)
        if self.state is RequestState.TUNNEL:
            self.to_upstream.append(data)
            return
        if self.state is RequestState.NO_MORE_REQUESTS or self.finished:
            return
        self._client.feed(data)
        self._advance_client()

    def client_eof(self) -> None:
        """The client shut down its write side (or went away)."""
        if self.finished or self.state is RequestState.TUNNEL:
            return
        if self._current is not None and self.state is not RequestState.FORWARD_BODY:
            # A request that was never forwarded: nothing to wait for.
            self._drop_current("client closed before the request was complete")
        if self.awaiting_response:
            # Pass the half-close on and keep relaying responses until the daemon closes.
            self._to(RequestState.NO_MORE_REQUESTS)
            self.to_upstream.append(EOF)
            return
        self._finish("client closed")

    def head_timed_out(self, seconds: float) -> None:
        """A partial request head was not completed in time (slowloris): 408 and close."""
        if self.finished or self.state is not RequestState.HEAD or not self._client.buffer:
            return
        self._client.head_started = None
        error = ProtocolError(408, f"request head not complete after {seconds:g} s", "head_timeout")
        self._reject(self._new_exchange(), error)

    def decided(self, decision: Decision, asked: tuple[tuple[Lookup, Any], ...] = ()) -> None:
        """The gate's decision on the pending request, and what it asked the daemon."""
        exchange = self._current
        assert exchange is not None and self.state is RequestState.DECIDING
        try:
            exchange.decided(decision, asked)
        except ProtocolError as error:  # the mutation could not be made
            self._reject(exchange, error)
            return
        if decision.allowed:
            self._forward(exchange)
        else:
            self._answer_locally(exchange, decision.status, decision.message)
            if exchange.request_done:
                self._end_request()
            else:
                self._to(RequestState.DISCARD_BODY)
        self._advance_client()

    def _advance_client(self) -> None:
        while self._client.buffer and not self.finished:
            state = self.state
            if state is RequestState.HEAD:
                if not self._read_head():
                    return
            elif state in READING_BODY:
                self._read_body()
                if self.state is state:
                    return
            else:  # DECIDING, AWAIT_UPGRADE, TUNNEL, NO_MORE_REQUESTS: hold the bytes
                return

    def _read_head(self) -> bool:
        """Take one head from the buffer; False when more bytes are needed."""
        try:
            head_bytes = self._client.next_head()
        except ProtocolError as exc:
            self._reject(self._new_exchange(), exc)
            return False
        if head_bytes is None:
            return False
        exchange = self._new_exchange()
        try:
            request = exchange.read_head(head_bytes)
        except ProtocolError as exc:
            self._reject(exchange, exc)
            return False
        head = exchange.head
        assert head is not None
        self._current = exchange
        self.gate = gate = self.gate_in_force.current  # one gate judges this whole request
        held = gate.wants_body(request, self.client) or hijack.needs_body(request)
        # A create's body is read for its summary as it passes (never held for it).
        keep = summary.BODY_CAP if summary.needs_body(request.endpoint) else None
        try:
            ended = self._client.start_body(
                head.framing, gate.body_limit(request) if held else None, keep
            )
        except ProtocolError as exc:
            self._reject(exchange, exc)
            return False
        if not ended and held:
            self._to(RequestState.BUFFER_BODY)
            return True
        if ended:
            exchange.advance("request_read")
        self._ask(request.with_body(b"") if held else request)
        return True

    def _read_body(self) -> None:
        exchange = self._current
        assert exchange is not None
        try:
            piece = self._client.next_piece()
        except ProtocolError as exc:
            self._reject(exchange, exc)
            return
        exchange.request_body_bytes = piece.size
        if self.state is RequestState.FORWARD_BODY and piece.raw:
            self.to_upstream.append(piece.raw)
        elif self.state is RequestState.BUFFER_BODY:
            exchange.held_body.append(piece.raw)
        if not piece.done:
            return
        exchange.advance("request_read")
        if self.state is RequestState.BUFFER_BODY:
            assert exchange.request is not None
            self._ask(exchange.request.with_body(bytes(self._client.kept or b"")))
        else:
            self._end_request()

    def _ask(self, request: Request) -> None:
        """Stop and wait for the gate, unless the core itself must refuse."""
        exchange = self._current
        assert exchange is not None
        exchange.request = request
        reason = hijack.refusal(request)
        if reason is not None:
            self._reject(exchange, ProtocolError(400, reason, "hijack_without_upgrade"))
            return
        self._to(RequestState.DECIDING)

    def _forward(self, exchange: Exchange) -> None:
        self.to_upstream.extend(exchange.take_forwarded())
        self._queue.append(exchange)
        if exchange.request_done:
            self._end_request()
        else:
            self._to(RequestState.FORWARD_BODY)

    def _end_request(self) -> None:
        """The current request is fully read (forwarded or discarded)."""
        exchange = self._current
        assert exchange is not None and exchange.head is not None
        kept = self._client.kept
        if kept is not None and exchange.request is not None:
            exchange.request = exchange.request.with_body(bytes(kept))
        exchange.body_over_cap = self._client.over_cap
        self._current = None
        exchange.held_body = []
        if not exchange.request_done:  # a denial answered at once may be recorded already
            exchange.advance("request_read")
        forwarded = exchange.local is None
        if forwarded and exchange.head.upgrade and not exchange.response_done:
            self._to(RequestState.AWAIT_UPGRADE)
            self._upgrade_exchange = exchange
        elif not exchange.head.keep_alive:
            self._to(RequestState.NO_MORE_REQUESTS)  # the daemon closes after this one; so do we
            if not self._queue:  # answered here and already sent: nothing left to wait for
                self._finish("request asked to close")
        else:
            self._to(RequestState.HEAD)
        self._maybe_record(exchange)

    def _new_exchange(self) -> Exchange:
        self._requests += 1
        return Exchange(number=self._requests, started=self.clock())

    def _reject(self, exchange: Exchange, error: ProtocolError) -> None:
        """Answer a request sockspy cannot read safely, and stop reading this client."""
        exchange.refused(error)
        if exchange in self._queue:
            # Part of it already went to the daemon: no clean answer is possible any more.
            self._current = None
            self._record(exchange)
            self._finish(f"refused mid-request: {error.message}")
            return
        exchange.advance("request_read")
        self._answer_locally(exchange, error.status, f"sockspy: {error.message}", close=True)
        self._current = None
        exchange.held_body = []
        self._to(RequestState.NO_MORE_REQUESTS)
        self._client.take_rest()

    def _drop_current(self, reason: str) -> None:
        exchange = self._current
        assert exchange is not None
        exchange.reason = reason
        exchange.advance("ended")
        if exchange not in self._queue:
            self._record(exchange)
        self._current = None

    def _answer_locally(
        self, exchange: Exchange, status: int, message: str, close: bool = False
    ) -> None:
        exchange.answer_locally(status, message, close)
        self._queue.append(exchange)
        self._release_local_responses()

    def _release_local_responses(self) -> None:
        while self._queue and self._queue[0].local is not None:
            exchange = self._queue.popleft()
            assert exchange.local is not None
            self.to_client.append(exchange.local.data)
            exchange.advance("response_read")
            self._maybe_record(exchange)
            if exchange.local.close:
                self._finish(f"refused: {exchange.reason}")
                return

    # -- daemon side ----------------------------------------------------------------

    def upstream_data(self, data: bytes) -> None:
        self.daemon_bytes += len(data)
        if self.state is RequestState.TUNNEL:
            self.to_client.append(data)
            return
        if self.finished:
            return
        self._daemon.feed(data)
        while not self.finished and not self.tunnel:
            try:
                event = self._daemon.next_event(self._expected_head())
            except ProtocolError as exc:
                self._daemon_error(exc.message)
                return
            if event is None:
                return
            self._on_response(event)

    def upstream_eof(self) -> None:
        """The daemon closed its side: finish what it framed by close, then close the client."""
        if self.finished or self.state is RequestState.TUNNEL:
            return
        ended = self._daemon.end_of_stream()
        if ended is not None:
            self._on_response(ended)
        self._record_owed("daemon closed the connection")
        self._finish("daemon closed")

    def upstream_unreachable(self, address: str, reason: str) -> None:
        """The daemon could not be reached: answer 502 to every forwarded request."""
        self.to_upstream.clear()
        message = f"sockspy: cannot reach the Docker daemon at {address}: {reason}"
        forwarded = [ex for ex in self._queue if ex.local is None]
        for exchange in forwarded:
            exchange.reason = "daemon unreachable"
            exchange.answer_locally(502, message, close=True)
            exchange.advance("request_read")
        if self.state is not RequestState.TUNNEL:
            self._to(RequestState.NO_MORE_REQUESTS)
        self._current = None
        self._release_local_responses()
        if not forwarded:
            self._finish("daemon unreachable")

    def _expected_head(self) -> RequestHead | None:
        """The head of the request the daemon answers next (None: none waits for one)."""
        if not self._queue or self._queue[0].local is not None:
            return None
        return self._queue[0].head

    def _on_response(self, event: daemon_side.Event) -> None:
        exchange = self._queue[0]
        if isinstance(event, daemon_side.Piece):
            exchange.response_body_bytes = event.size
            try:
                self.to_client.extend(exchange.response.chunk(event.raw, event.collected))
            except Withheld as exc:
                self._withhold(exchange, exc)
                return
            if event.ended is not None:
                self._complete_response(exchange, event.ended.kept)
        elif isinstance(event, daemon_side.Ended):
            exchange.response_body_bytes = event.size
            self._complete_response(exchange, event.kept)
        else:  # a head: how this response leaves is chosen here, once (`responses`)
            plan = responses.plan(
                exchange.decision, exchange.request, event.head.status, client=self._client_key
            )
            exchange.response = plan
            self.to_client.extend(plan.head(event.raw))
            if isinstance(event, daemon_side.Switched):
                self._start_tunnel(exchange, event.rest)
            elif not event.head.informational:  # 100 Continue: the final head follows
                self._response_started(exchange, event)

    def _response_started(self, exchange: Exchange, event: daemon_side.Head) -> None:
        exchange.status = status = event.head.status
        request = exchange.request
        if exchange.response.holds:
            self._daemon.keep_body()
        elif request is not None and request.endpoint in objects.CREATING and status < 300:
            self._daemon.keep_body(last=objects.RESPONSE_CAP)  # what it made (a build: its end)
        streams = request is not None and sessions.session_kind(request) == "stream"
        if status == 200 and streams and not event.bodyless:  # logs -f, events, stats, wait
            self._open_session(exchange, "stream")

    def _open_session(self, exchange: Exchange, kind: str) -> None:
        exchange.session = Session(kind, self.clock(), self.recorder.session_start(exchange, kind))

    def _withhold(self, exchange: Exchange, withheld: Withheld) -> None:
        """A response that must be changed and cannot be: an error (502, or 503 when
        sockspy holds too much), never the original bytes; or, when part of the new
        answer has left, the connection cut."""
        message = f"sockspy: the daemon's answer is withheld, it could not be redacted: {withheld}"
        if not exchange.response.started:
            self.to_client.append(error_response(withheld.status, message, close=True))
        exchange.status = withheld.status
        if exchange.decision is not None:
            exchange.decision = replace(exchange.decision, code="redaction_failed")
        self._daemon_error(message)

    def _complete_response(self, exchange: Exchange, kept: bytes | None) -> None:
        try:
            self.to_client.extend(exchange.response.end(kept or b""))
        except Withheld as exc:
            self._withhold(exchange, exc)
            return
        exchange.redacted = exchange.response.removed
        self._queue.popleft()
        if kept is not None and not exchange.response.holds:
            exchange.response_body = kept  # a create's answer: what it made
        exchange.advance("response_read")
        self._maybe_record(exchange)
        if exchange is self._upgrade_exchange:
            self._upgrade_exchange = None
            if self.state is RequestState.AWAIT_UPGRADE:
                self._to(RequestState.HEAD)  # no 101: dockerd ignored the Upgrade; parse on
        self._release_local_responses()
        if not self.finished:
            self._advance_client()
        if self.state is RequestState.NO_MORE_REQUESTS and not self._queue and not self.finished:
            self._finish("request asked to close")

    def _start_tunnel(self, exchange: Exchange, early_down: bytes) -> None:
        self._queue.popleft()
        exchange.status = 101  # upgraded
        exchange.advance("ended")  # its request and response end here; the session goes on
        self._maybe_record(exchange)
        self._to(RequestState.TUNNEL)
        self._tunnel_exchange = exchange
        self._open_session(exchange, "hijack")
        assert exchange.session is not None
        early_up = self._client.take_rest()
        exchange.session.early_up, exchange.session.early_down = early_up, early_down
        if early_down:
            self.to_client.append(APART)
            self.to_client.append(early_down)
        if early_up:  # client bytes that came before the 101: the daemon gets them now
            self.to_upstream.append(early_up)

    @property
    def pending_record_id(self) -> str | None:
        """The record id of the request awaiting its decision."""
        exchange = self._current
        if exchange is None or self.pending_decision is None:
            return None
        return f"{self.record_prefix}{exchange.number}"

    @property
    def tunnel_target(self) -> tuple[str, str] | None:
        """(endpoint, exec id or container) of the session this connection became."""
        exchange = self._tunnel_exchange
        target = exchange.session_target if exchange is not None else None
        if exchange is None or exchange.request is None or target is None:
            return None
        return exchange.request.endpoint, target

    def tunnel_closed(
        self,
        client_to_daemon: int,
        daemon_to_client: int,
        outcome: Mapping[str, Any] | None = None,
        cut: str | None = None,
    ) -> None:
        """The I/O layer pumped the tunnel to its end, or `cut` it (why); record the
        session, with what the daemon said of it afterwards (`sessions.outcome`)."""
        exchange = self._tunnel_exchange
        assert exchange is not None
        self.client_bytes += client_to_daemon
        self.daemon_bytes += daemon_to_client
        self.recorder.session_end(exchange, client_to_daemon, daemon_to_client, outcome or {})
        self._finish(cut or "session ended")

    def _daemon_error(self, message: str) -> None:
        self._record_owed(message)
        self._queue.clear()
        self._finish(f"daemon protocol error: {message}")

    # -- endings and records ------------------------------------------------------

    def _finish(self, reason: str) -> None:
        if self.finished:
            return
        self.finished = True
        self.close_reason = reason
        if self._current is not None and self._current.phase is not Phase.RECORDED:
            self._drop_current(reason)
        self.to_client.append(EOF)

    def connection_closed(self, reason: str | None = None) -> Record:
        """The one record every connection ends with."""
        if reason is not None and not self.finished:
            self.close_reason = reason
        self._record_owed(self.close_reason)
        return self.recorder.connection(
            self._requests, self.client_bytes, self.daemon_bytes, self.started, self.close_reason
        )

    def _record_owed(self, reason: str) -> None:
        """Record every exchange still owed a response: none will come (`reason`)."""
        for exchange in self._queue:
            if exchange.phase is not Phase.RECORDED:
                exchange.reason = exchange.reason or reason
                self._record(exchange)

    def _maybe_record(self, exchange: Exchange) -> None:
        if exchange.phase is Phase.COMPLETE:
            self._record(exchange)

    def _record(self, exchange: Exchange) -> None:
        """Its one record; whatever of it had not ended ends here."""
        if exchange.phase is not Phase.COMPLETE:
            exchange.advance("ended")
        exchange.advance("recorded")
        self.recorder.exchange(exchange)
