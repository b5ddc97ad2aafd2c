"""Running a real `Server` inside a test: a SIGTERM ends it, and its records are checked."""

from __future__ import annotations

import io
import json
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

from sockspy.io.logsink import AuditLog
from sockspy.io.server import Server
from support.records import check_records


async def request_target(stream: trio.SocketStream) -> str | None:
    """A fake daemon's read of one request head: its target (None: the client left)."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = await stream.receive_some(65536)
        if not chunk:
            return None
        head += chunk
    return head.split(b" ", 2)[1].decode()


def memory_log() -> tuple[AuditLog, io.StringIO]:
    sink = io.StringIO()
    return AuditLog("json", sink), sink


async def stop(server: Server, front_path: str | None, limit: float = 10.0) -> None:
    """SIGTERM, as an operator stops sockspy; wait until every connection and the unix
    front (if `front_path`) are gone."""
    os.kill(os.getpid(), signal.SIGTERM)
    with trio.fail_after(limit):
        while server.pumps or (front_path is not None and Path(front_path).exists()):
            await trio.sleep(0.01)


def run_trio(main: Callable[[], Awaitable[None]]) -> None:
    """trio.run(main); a SIGTERM that arrives after the server stopped listening must not
    kill pytest."""
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        trio.run(main)
    finally:
        signal.signal(signal.SIGTERM, previous)


def written_records(log: AuditLog, sink: io.StringIO) -> list[dict[str, Any]]:
    """Every record the server wrote, each checked against the README's table."""
    log.close()
    records = [json.loads(line) for line in sink.getvalue().splitlines()]
    check_records(records)
    return records
