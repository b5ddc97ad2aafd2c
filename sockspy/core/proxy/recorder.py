"""The record path of one connection: a record is a side product, and never costs the
client a byte or the connection.

`Recorder` builds each of the connection's records (`sockspy.core.proxy.recording`),
makes the one write an exchange makes to the server-wide lineage memory
(`Lineage.link`), and collects them in `records` for the I/O layer to write. Each step
runs under `_step`: if a builder, the lineage, the summary or the decision inputs raise,
an `internal_error` record names the exchange it cost, and the conversation goes on byte
for byte (the fault-injection test raises in each of them in turn:
tests/core/proxy/test_record_path_faults.py). No method here raises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sockspy.core.deciding.client import Client
from sockspy.core.proxy import recording
from sockspy.core.proxy.exchange import Exchange
from sockspy.core.proxy.lineage import Lineage
from sockspy.core.records import Record, SessionStartRecord

R = TypeVar("R")


class Recorder:
    """Builds one connection's records into `records` (exchange, session start and end,
    connection), and links each exchange to the `lineage`."""

    def __init__(
        self,
        conn_id: int,
        client: Client,
        clock: Callable[[], float],
        lineage: Lineage | None = None,
        record_prefix: str = "0-0-",
    ) -> None:
        self.conn_id = conn_id
        self.client = client
        self.clock = clock
        self.lineage = lineage
        self.record_prefix = record_prefix
        self.records: list[Record] = []

    def exchange(self, exchange: Exchange) -> None:
        """Its one record, then the lineage's one write; dropped at audit level "none"
        (after the lineage read it: what a create made is remembered at every level).
        A streamed response's session ends with its exchange."""
        if exchange.session is not None and exchange.status != 101:
            up, down = exchange.request_body_bytes, exchange.response_body_bytes
            self.session_end(exchange, up, down, {})
        now = self.clock()
        record = self._step(
            "exchange_record",
            exchange,
            lambda: recording.exchange_record(
                self.conn_id, self.client, exchange, now, self.record_prefix
            ),
        )
        if record is None:  # its internal_error says why; the exchange keeps a record
            record = self._step(
                "exchange_record",
                exchange,
                lambda: recording.incomplete_exchange_record(
                    self.conn_id, str(self.client.front), exchange, self.record_prefix
                ),
            )
            if record is None:
                return
        lineage = self.lineage
        if lineage is not None:
            self._step("lineage", exchange, lambda: lineage.link(record, exchange))
        if exchange.audit_level != "none":
            self.records.append(record)

    def session_start(self, exchange: Exchange, kind: str) -> SessionStartRecord | None:
        """The start record of the session `exchange` opens (None if it cannot be built)."""
        start = self._step("session_start", exchange, lambda: self._session_start(exchange, kind))
        if start is not None:
            self.records.append(start)
        return start

    def _session_start(self, exchange: Exchange, kind: str) -> SessionStartRecord:
        request = exchange.request
        target = exchange.session_target
        made = None
        if self.lineage is not None and target and request and request.endpoint == "exec.start":
            made = self.lineage.find("exec", target)  # the command its create asked for
        return recording.session_start_record(
            self.conn_id, exchange, kind, target, self.record_prefix, made
        )

    def session_end(
        self, exchange: Exchange, up: int, down: int, outcome: Mapping[str, Any]
    ) -> None:
        """The end record of its session: bytes each way (with those held at a switch to
        a tunnel), and what the daemon said of it."""
        session = exchange.session
        if session is None or session.start is None:
            return  # its start record could not be built: its internal_error says so
        start, duration = session.start, self.clock() - session.started
        up, down = up + len(session.early_up), down + len(session.early_down)
        end = self._step(
            "session_end",
            exchange,
            lambda: recording.session_end_record(start, up, down, duration, outcome),
        )
        if end is not None:
            self.records.append(end)

    def connection(
        self, requests: int, client_bytes: int, daemon_bytes: int, started: float, reason: str
    ) -> Record:
        """The one record every connection ends with (returned: written last, by the pump)."""
        now = self.clock()
        fields = (requests, client_bytes, daemon_bytes, started, now, reason)
        try:
            return recording.connection_record(self.conn_id, self.client, *fields)
        except Exception as exc:  # its internal_error takes its place
            return recording.internal_error(self.conn_id, "connection_record", exc)

    def _step(self, where: str, exchange: Exchange | None, build: Callable[[], R]) -> R | None:
        """`build()`; if it raises, an `internal_error` record in its place."""
        try:
            return build()
        except Exception as exc:
            self.records.append(
                recording.internal_error(self.conn_id, where, exc, exchange, self.record_prefix)
            )
            return None
