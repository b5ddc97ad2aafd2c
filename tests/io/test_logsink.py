"""The audit log writer: order, shape, batching, and drops counted when the sink stalls."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Mapping

import pytest

from sockspy.core.audit.chain import Chain
from sockspy.core.audit.verify import verify
from sockspy.io import logsink
from sockspy.io.logsink import AuditLog, json_renderer


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


def test_client_text_no_json_can_hold_still_leaves_the_exchanges_record_escaped() -> None:
    sink = io.StringIO()
    renderer = json_renderer()
    log = AuditLog("json", sink, chain=Chain(lambda fields: str(renderer(None, "", dict(fields)))))
    log.emit({"event": "exchange", "record_id": "r-3-1", "conn_id": 3, "request_no": 1})
    nested: object = 1
    for _ in range(300):  # orjson stops at 255 levels
        nested = {"a": nested}
    hostile = [
        {"x": 2**70},  # orjson: past 64 bits
        {"peer_exe": "/tmp/cu\udcffrl"},  # a non-UTF-8 byte in a program's name, from /proc
        {"summary": {"labels": nested}},
        {(1, 2): "a tuple key"},
    ]
    for i, fields in enumerate(hostile, start=2):
        log.emit({"event": "exchange", "record_id": f"r-3-{i}", "conn_id": 3, **fields})
    log.close()
    records = lines(sink)
    assert [r["record_id"] for r in records] == [f"r-3-{i}" for i in range(1, 6)]
    assert [r.get("escaped", False) for r in records] == [False, True, True, True, True]
    assert records[1]["x"] == str(2**70)
    assert records[2]["peer_exe"] == "/tmp/cu\\udcffrl"
    assert "nested deeper than" in json.dumps(records[3]["summary"])
    text = sink.getvalue().encode().splitlines()
    report = verify([("log", n, line) for n, line in enumerate(text, start=1)], open_end=True)
    assert report.ok and report.records == 5  # the chain covers the escaped lines too
    assert log.dropped == 0


def test_a_record_not_even_its_escape_can_render_leaves_an_internal_error_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = logsink.renderable

    def failing(record: Mapping[str, object]) -> dict[str, object]:
        if record.get("event") == "exchange":
            raise ValueError("cannot escape")
        return real(record)

    monkeypatch.setattr(logsink, "renderable", failing)
    sink = io.StringIO()
    log = AuditLog("json", sink)
    log.emit({"event": "exchange", "record_id": "r-3-2", "conn_id": 3, "x": 2**70})
    log.close()
    [lost] = lines(sink)
    assert lost["event"] == "internal_error" and lost["where"] == "render"
    assert lost["lost_event"] == "exchange" and lost["record_id"] == "r-3-2"
    assert "Integer exceeds 64-bit range" in str(lost["error"])


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
