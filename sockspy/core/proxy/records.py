"""Audit records: plain dicts with stable snake_case fields, built from core state.

The field names are an interface (users grep and index them); they are listed in the
README. Timestamps are added by the log writer; durations are computed here from the
monotonic clock the core was given.
"""

from __future__ import annotations

from typing import Any

from sockspy.core.proxy.exchange import Exchange
from sockspy.core.serving.identity import Client

Record = dict[str, Any]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def exchange_record(conn_id: int, client: Client, exchange: Exchange, now: float) -> Record:
    request = exchange.request
    decision = exchange.decision
    record: Record = {
        "event": "exchange",
        "conn_id": conn_id,
        "request_no": exchange.number,
        **client.fields(),
        "method": exchange.method,
        "target": exchange.target,
        "api_version": request.api_version if request else None,
        "endpoint": request.endpoint if request else "unknown",
        "decision": exchange.verdict,
        "rule": decision.rule if decision else None,
        "profile": decision.profile if decision else None,
        "code": decision.code if decision else exchange.code,
        "reason": exchange.reason,
        "status": exchange.status,
        "request_body_bytes": exchange.request_body_bytes,
        "response_body_bytes": exchange.response_body_bytes,
        "duration_ms": _ms(now - exchange.started),
        "upgraded": exchange.upgraded,
    }
    return record


def session_record(
    conn_id: int,
    exchange: Exchange,
    client_to_daemon: int,
    daemon_to_client: int,
    started: float,
    now: float,
) -> Record:
    return {
        "event": "session",
        "conn_id": conn_id,
        "request_no": exchange.number,
        "endpoint": exchange.request.endpoint if exchange.request else "unknown",
        "client_to_daemon_bytes": client_to_daemon,
        "daemon_to_client_bytes": daemon_to_client,
        "duration_ms": _ms(now - started),
    }


def connection_record(
    conn_id: int,
    client: Client,
    requests: int,
    client_bytes: int,
    daemon_bytes: int,
    started: float,
    now: float,
    close_reason: str,
) -> Record:
    return {
        "event": "connection",
        "conn_id": conn_id,
        **client.fields(),
        "requests": requests,
        "client_bytes": client_bytes,
        "daemon_bytes": daemon_bytes,
        "duration_ms": _ms(now - started),
        "close_reason": close_reason,
    }
