"""The audit log writer: order, shape, batching, and drops counted when the sink stalls."""

from __future__ import annotations

import io
import json
import threading
import time

from sockspy.io.logsink import AuditLog


class StallingSink(io.StringIO):
    """A sink whose writes block until released (a full pipe, a stuck terminal)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.writes = 0

    def write(self, text: str) -> int:
        self.release.wait()
        self.writes += 1
        return super().write(text)


def lines(sink: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in sink.getvalue().splitlines()]


def test_records_are_written_in_order_with_timestamp_level_and_event_first() -> None:
    sink = io.StringIO()
    log = AuditLog("json", sink)
    for number in range(1000):
        log.emit({"event": "exchange", "n": number})
    log.emit({"event": "stopping"}, "warning")
    log.close()
    records = lines(sink)
    assert [r["n"] for r in records[:-1]] == list(range(1000))
    assert list(records[0])[:3] == ["timestamp", "level", "event"]
    assert str(records[0]["timestamp"]).endswith("Z")
    assert records[-1]["level"] == "warning"


def test_records_are_written_within_the_flush_interval_without_close() -> None:
    sink = io.StringIO()
    log = AuditLog("json", sink)
    log.emit({"event": "listening", "address": "unix:///x"})
    deadline = time.monotonic() + 2
    while not sink.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert lines(sink)[0]["address"] == "unix:///x"
    log.close()


def test_a_stalled_sink_drops_and_counts_records_instead_of_blocking_the_caller() -> None:
    sink = StallingSink()
    log = AuditLog("json", sink, queue_size=100)
    log.emit({"event": "first"})
    time.sleep(0.2)  # the writer has taken "first" and is now stuck in write()
    started = time.monotonic()
    for number in range(500):
        log.emit({"event": "exchange", "n": number})
    assert time.monotonic() - started < 0.5  # emit never waited for the sink
    assert log.dropped == 400
    sink.release.set()
    log.close()
    records = lines(sink)
    drops = [r for r in records if r["event"] == "audit_dropped"]
    assert drops == [{**drops[0], "dropped": 400, "dropped_total": 400}]
    assert [r["n"] for r in records if r["event"] == "exchange"] == list(range(100))


def test_writes_are_batched_not_one_per_record() -> None:
    sink = StallingSink()
    sink.release.set()
    log = AuditLog("json", sink)
    for number in range(2000):
        log.emit({"event": "exchange", "n": number})
    log.close()
    assert len(lines(sink)) == 2000
    assert sink.writes < 100


def test_a_record_that_cannot_be_rendered_leaves_an_internal_error_naming_it() -> None:
    sink = io.StringIO()
    log = AuditLog("json", sink)
    log.emit({"event": "exchange", "record_id": "r-3-1", "conn_id": 3, "request_no": 1})
    log.emit(
        {"event": "exchange", "record_id": "r-3-2", "conn_id": 3, "x": 2**70}
    )  # orjson: >64 bits
    log.emit({"event": "exchange", "record_id": "r-3-3", "conn_id": 3, "request_no": 3})
    log.close()
    records = lines(sink)
    assert [r["event"] for r in records] == ["exchange", "internal_error", "exchange"]
    lost = records[1]
    assert lost["where"] == "render" and lost["lost_event"] == "exchange"
    assert lost["record_id"] == "r-3-2" and lost["conn_id"] == 3 and lost["level"] == "error"
    assert "Integer exceeds 64-bit range" in str(lost["error"])
    assert log.dropped == 0


def test_the_console_log_shows_a_clients_control_sequences_escaped_and_the_file_keeps_them() -> (
    None
):
    hostile = "\x1b[2J\x1b[Hdocker\u202e"
    console = io.StringIO()
    log = AuditLog("console", console)
    # peer_exe holds no space, "=" or quote: structlog shows such a string as it is.
    log.emit({"event": "exchange", "peer_exe": f"/tmp/{hostile}"})
    log.close()
    shown = console.getvalue()
    assert "\x1b" not in shown and "\u202e" not in shown, shown
    assert "x1b[2J" in shown and "u202e" in shown  # written out (repr may double the \\)
    sink = io.StringIO()
    log = AuditLog("json", sink)
    log.emit({"event": "exchange", "target": hostile})
    log.close()
    assert lines(sink)[0]["target"] == hostile  # the log itself keeps the exact text
