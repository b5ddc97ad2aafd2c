"""The audit log writer: records leave the event loop through a bounded queue.

Rendering and writing happen on a writer thread, so a slow sink (a full pipe, a stalled
terminal, a slow disk) never stalls the byte path. When the queue is full a record is
dropped and counted rather than blocking; the writer reports the count as an
`audit_dropped` record as soon as it catches up, and the total at shutdown.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
import time
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

import structlog

LogFormat = Literal["json", "console"]
QUEUE_SIZE = 65536

_STOP = object()


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


class AuditLog:
    def __init__(
        self, fmt: LogFormat = "json", stream: TextIO | None = None, queue_size: int = QUEUE_SIZE
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        renderer: Any
        if fmt == "json":
            renderer = structlog.processors.JSONRenderer()
        else:
            renderer = structlog.dev.ConsoleRenderer(colors=self.stream.isatty())
        self._logger = structlog.wrap_logger(
            structlog.WriteLogger(self.stream),
            processors=[_shape, renderer],
            wrapper_class=structlog.BoundLogger,
        )
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self.dropped = 0
        self._reported_drops = 0
        self._thread = threading.Thread(target=self._run, name="sockspy-audit", daemon=True)
        self._thread.start()

    def emit(self, record: dict[str, Any], level: str = "info") -> None:
        """Queue one record; never blocks."""
        try:
            self._queue.put_nowait((time.time(), level, record))
        except queue.Full:
            self.dropped += 1

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the writer."""
        with contextlib.suppress(queue.Full):
            self._queue.put((time.time(), "info", _STOP), timeout=timeout)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            emitted, level, record = self._queue.get()
            if self.dropped != self._reported_drops:
                dropped = self.dropped
                self._write(
                    time.time(),
                    "warning",
                    {
                        "event": "audit_dropped",
                        "dropped": dropped - self._reported_drops,
                        "dropped_total": dropped,
                    },
                )
                self._reported_drops = dropped
            if record is _STOP:
                return
            self._write(emitted, level, record)

    def _write(self, emitted: float, level: str, record: dict[str, Any]) -> None:
        fields = dict(record)
        event = fields.pop("event", "log")
        try:
            getattr(self._logger, level)(event, _emitted=emitted, **fields)
        except Exception as exc:  # a broken sink must not kill the writer thread
            self.dropped += 1
            print(f"sockspy: audit log write failed: {exc}", file=sys.stderr)
