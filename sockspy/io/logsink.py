"""The audit log writer: records leave the event loop through a bounded buffer.

Rendering and writing happen on a writer thread, so a slow sink (a full pipe, a stalled
terminal, a slow disk) never stalls the byte path. `emit` only appends to a deque (no
lock, no wake-up): the writer wakes every `FLUSH_INTERVAL` seconds, or sooner when a
batch is waiting, renders the batch through structlog's processors and writes it with
one call. Waking once per batch instead of once per record keeps the writer from
fighting the event loop for the GIL at high request rates. When the buffer is full a
record is dropped and counted rather than blocking; the writer reports the count as an
`audit_dropped` record as soon as it catches up, and the total at shutdown.

A batch the sink refuses (a full disk) or that hangs (a pipe nobody reads) is kept and
written again before anything newer, so the sealed lines stay in order with no gap; the
records queued behind it are what `durability` decides about: `best_effort` drops and
counts them; `block` makes the byte path wait for room (`wait_for_room`, bounded by
`block_seconds`, then it drops); `strict` has the pump refuse requests with 503 while
the log cannot take records (`writable`).

With a `Chain` (JSON format), every line is sealed in the order it is written: its
``seq`` and the link to the line before (`sockspy.core.audit.chain`); with a signing key
the writer adds a signed ``checkpoint`` every `checkpoint_every` records or
`checkpoint_seconds`, and one at shutdown.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import orjson
import structlog
import trio

from sockspy.core.audit.chain import Chain
from sockspy.core.audit.renderable import renderable
from sockspy.core.audit.view import printable_record

LogFormat = Literal["json", "console"]
Durability = Literal["best_effort", "block", "strict"]
DURABILITIES: tuple[Durability, ...] = ("best_effort", "block", "strict")
BLOCK_SECONDS = 10.0


def _orjson_text(value: Any, **options: Any) -> str:
    """orjson as structlog's JSON serializer: five times json.dumps's speed, on the log
    writer thread that shares the GIL with the byte path (measured: bench/RESULTS.md)."""
    return orjson.dumps(
        value, default=options.get("default"), option=orjson.OPT_NON_STR_KEYS
    ).decode()


def json_renderer() -> Any:
    """The renderer of JSON audit lines (the hash chain seals what it writes)."""
    return structlog.processors.JSONRenderer(serializer=_orjson_text)


class Sink(Protocol):
    """Where the lines go: a text stream (stdout) or a `sockspy.io.logfile.LogFile`."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...

    def isatty(self) -> bool: ...


QUEUE_SIZE = 65536
FLUSH_INTERVAL = 0.05  # seconds a record may wait before it is written
BATCH_WAKE = 512  # records waiting that wake the writer before the interval is over


def _shape(_logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> dict[str, Any]:
    """Put timestamp, level and event first; the timestamp is when the record was made."""
    emitted = event_dict.pop("_emitted")
    stamp = datetime.fromtimestamp(emitted, UTC).isoformat(timespec="microseconds")
    return {
        "timestamp": stamp.replace("+00:00", "Z"),
        "level": method,
        "event": event_dict.pop("event"),
        **event_dict,
    }


def _render_failed(record: Mapping[str, Any], exc: Exception) -> dict[str, Any]:
    """The `internal_error` written in the place of a record that could not be rendered:
    which record it was, from plain values only."""
    out: dict[str, Any] = {"event": "internal_error", "where": "render", "error": repr(exc)}
    for key, kind in (("event", str), ("record_id", str), ("conn_id", int), ("request_no", int)):
        value = record.get(key)
        if isinstance(value, kind):
            out["lost_event" if key == "event" else key] = value
    return out


_SHAPED = "<shaped>"  # the level of a queued record that arrived rendered (a worker's)


class AuditLog:
    def __init__(
        self,
        fmt: LogFormat = "json",
        stream: Sink | None = None,
        queue_size: int = QUEUE_SIZE,
        chain: Chain | None = None,
        checkpoint_every: int = 1000,
        checkpoint_seconds: float = 60.0,
        durability: Durability = "best_effort",
        block_seconds: float = BLOCK_SECONDS,
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.durability = durability
        self.block_seconds = block_seconds
        self.failing: str | None = None  # why the sink refuses writes, while it does
        self._unwritten: str | None = None  # a sealed batch the sink refused, to write again
        self._writing_since: float | None = None  # a write under way (a stalled sink hangs here)
        # What the renderer is given: the record as it is for the file, and for a console
        # with what a client wrote made printable (no control sequence reaches a screen).
        self._shown: Callable[[Mapping[str, Any]], dict[str, Any]] = (
            dict if fmt == "json" else printable_record
        )
        self.chain = chain if fmt == "json" else None
        self.checkpoint_every = checkpoint_every
        self.checkpoint_seconds = checkpoint_seconds
        self._last_checkpoint = time.monotonic()
        self._renderer: Any
        if fmt == "json":
            self._renderer = json_renderer()
        else:
            self._renderer = structlog.dev.ConsoleRenderer(colors=self.stream.isatty())
        self._pending: deque[tuple[float, str, Mapping[str, Any]]] = deque()
        self._queue_size = queue_size
        self._wake = threading.Event()
        self._stopping = False
        self.dropped = 0
        self._reported_drops = 0
        self._thread = threading.Thread(target=self._run, name="sockspy-audit", daemon=True)
        self._thread.start()

    def emit(self, record: Mapping[str, Any], level: str = "info") -> None:
        """Queue one record; never blocks. The record must not be changed afterwards."""
        pending = self._pending
        if len(pending) >= self._queue_size:
            self.dropped += 1
            return
        pending.append((time.time(), level, record))
        if len(pending) == BATCH_WAKE:
            self._wake.set()

    def emit_shaped(self, record: Mapping[str, Any]) -> bool:
        """Queue a record that already has its timestamp, level and event (a worker's,
        rendered there): it is sealed into this log's chain as it is. False when the
        queue is full (the caller waits: `has_room`)."""
        if len(self._pending) >= self._queue_size:
            return False
        self._pending.append((0.0, _SHAPED, record))
        if len(self._pending) == BATCH_WAKE:
            self._wake.set()
        return True

    @property
    def has_room(self) -> bool:
        return len(self._pending) < self._queue_size

    @property
    def writable(self) -> bool:
        """Can a record emitted now be written? Not while the queue is full, the sink
        refuses writes, or a write has hung for a second (a pipe nobody reads)."""
        if len(self._pending) >= self._queue_size or self.failing is not None:
            return False
        since = self._writing_since
        return since is None or time.monotonic() - since < 1.0

    async def wait_for_room(self) -> bool:
        """`block` durability: wait (at most `block_seconds`) until the queue has room
        again; False if it had none by then (what comes next is dropped and counted)."""
        deadline = time.monotonic() + self.block_seconds
        while len(self._pending) >= self._queue_size:
            if time.monotonic() >= deadline:
                return False
            self._wake.set()
            await trio.sleep(0.005)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the writer."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            self._wake.wait(FLUSH_INTERVAL)
            self._wake.clear()
            stopping = self._stopping  # read before draining: nothing emitted earlier is lost
            while self._write_batch(final=stopping):
                pass  # a batch that filled its file: the rest goes on in the next one
            if stopping:
                return

    def _write_batch(self, final: bool = False) -> bool:
        """Seal and write what is pending; True if it stopped where the sink's file is
        full (a rotating `LogFile`: the rest is still pending, for the next file, whose
        first line is then its `log_file` record)."""
        if self._unwritten is not None:  # the sink refused it: nothing newer goes first
            if not self._write(self._unwritten):
                if final:
                    self.dropped += self._unwritten.count("\n") + len(self._pending)
                return False
            self._unwritten = None
        pending = self._pending
        lines: list[str] = []
        opening = self._opening()
        if opening is not None:  # a file the sink just started: this record comes first
            lines.append(self._render(time.time(), "info", opening))
        if self.dropped != self._reported_drops:
            dropped = self.dropped
            drop_record = {
                "event": "audit_dropped",
                "dropped": dropped - self._reported_drops,
                "dropped_total": dropped,
            }
            lines.append(self._render(time.time(), "warning", drop_record))
            self._reported_drops = dropped
        room = self._room()
        size = sum(len(line) + 1 for line in lines)
        full = False
        while pending:
            if room is not None and size >= room and lines:
                full = True
                break
            emitted, level, record = pending.popleft()
            line = self._render_any(emitted, level, record)
            if line is not None:
                lines.append(line)
                size += len(line) + 1
        chain = self.chain
        last = final and not full  # the shutdown checkpoint ends the log: always written
        if chain is not None and chain.signer is not None and (chain.since_checkpoint or last):
            now = time.monotonic()
            due = chain.since_checkpoint >= self.checkpoint_every
            due = due or now - self._last_checkpoint >= self.checkpoint_seconds or last
            if due:
                stamp = _shape(None, "info", {"_emitted": time.time(), "event": ""})["timestamp"]
                fields = chain.checkpoint(stamp, "shutdown" if last else "periodic")
                if fields is not None:
                    lines.append(chain.seal(fields))
                self._last_checkpoint = now
        if not lines:
            return False
        text = "\n".join(lines) + "\n"
        if not self._write(text):
            self._unwritten = text  # sealed already: written again, whole, before the rest
            if final:
                self.dropped += len(lines) + len(pending)
            return False
        return full

    def _room(self) -> int | None:
        """Characters the sink's current file takes before it rotates (None: no limit)."""
        room = getattr(self.stream, "room", None)
        return room() if room is not None else None

    def _opening(self) -> dict[str, Any] | None:
        """The `log_file` record a sealed log file starts with (`LogFile.take_opening`)."""
        take = getattr(self.stream, "take_opening", None)
        opening = take() if self.chain is not None and take is not None else None
        if opening is None:
            return None
        record: dict[str, Any] = {"event": "log_file", "reason": opening.reason}
        if opening.removed is not None:
            record["removed_first_seq"], record["removed_last_seq"] = opening.removed
        return record

    def _write(self, text: str) -> bool:
        self._writing_since = time.monotonic()
        try:
            self.stream.write(text)
            self.stream.flush()
        except Exception as exc:  # a broken sink must not kill the writer thread
            if self.failing is None:
                print(f"sockspy: audit log write failed: {exc}", file=sys.stderr)
            self.failing = str(exc)
            return False
        finally:
            self._writing_since = None
        if self.failing is not None:
            print("sockspy: audit log writes again", file=sys.stderr)
        self.failing = None
        return True

    def _render_any(self, emitted: float, level: str, record: Mapping[str, Any]) -> str | None:
        """The record's line, escaped if it must be; None (counted as dropped) if not even
        an `internal_error` in its place renders."""
        try:
            return self._render(emitted, level, record)
        except Exception as exc:  # an unrenderable record must not kill the writer
            line = self._render_escaped(emitted, level, record, exc)
            if line is None:
                self.dropped += 1
                print(f"sockspy: audit record not rendered: {exc!r}", file=sys.stderr)
            return line

    def _render_escaped(
        self, emitted: float, level: str, record: Mapping[str, Any], exc: Exception
    ) -> str | None:
        """The record escaped (`renderable`): client text that no JSON can hold must not
        cost the exchange its record. Failing that, an `internal_error` in its place;
        None if even that fails."""
        for level_, fields in ((level, record), ("error", _render_failed(record, exc))):
            try:
                return self._render(emitted, level_, renderable(fields))
            except Exception:
                continue
        return None

    def _render(self, emitted: float, level: str, record: Mapping[str, Any]) -> str:
        if level == _SHAPED:
            if self.chain is not None:
                return self.chain.seal(record)
            text: str = self._renderer(None, str(record.get("level", "info")), self._shown(record))
            return text
        fields = dict(record)
        fields["_emitted"] = emitted
        fields.setdefault("event", "log")
        shaped = _shape(None, level, fields)
        if self.chain is not None:
            return self.chain.seal(shaped)
        rendered: str = self._renderer(None, level, self._shown(shaped))
        return rendered
