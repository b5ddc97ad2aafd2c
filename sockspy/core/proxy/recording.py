"""Building the conversation's records: exchange, session start and end, connection.

Pure builders: each takes what happened and returns a record (`sockspy.core.records`),
and writes nothing. The one write a record causes, to the server-wide lineage memory, is
`Lineage.link`, called by the conversation right after the exchange record is built.
Durations are computed from the monotonic clock the core was given.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from sockspy.core.deciding.client import Client
from sockspy.core.deciding.lookups import (
    ContainersWithIdPrefix,
    ImagesOfRepository,
    InspectContainer,
    InspectExec,
    InspectImage,
    InspectNow,
    InspectVolume,
    Lookup,
    ReadDaemonFacts,
)
from sockspy.core.docker import summary
from sockspy.core.docker.bodies import BODY_ENDPOINTS
from sockspy.core.docker.gojson import BodyDecodeError
from sockspy.core.docker.request import Request
from sockspy.core.docker.secrets import mask_target, masked_decoded
from sockspy.core.proxy.exchange import Exchange
from sockspy.core.records import (
    ConnectionRecord,
    ExchangeRecord,
    InternalErrorRecord,
    SessionEndRecord,
    SessionStartRecord,
)

# The headers a decision can turn on: body framing, the hijack's Upgrade, form bodies.
DECIDING_HEADERS = (b"content-type", b"content-length", b"transfer-encoding", b"upgrade")
_KINDS = {
    InspectContainer: "container",
    InspectVolume: "volume",
    InspectImage: "image",
    InspectExec: "exec",
}


# What a record keeps of a request is bounded, so that a few large requests (or large
# objects a look-up reads) cannot flush other records out of a rotated log: the target
# beyond TARGET_CAP characters, and a decision input beyond DECISION_INPUT_CAP characters
# of JSON, are left out (the record says how large they were).
TARGET_CAP = 8 * 1024
DECISION_INPUT_CAP = 64 * 1024


def bounded_target(target: str | None) -> tuple[str | None, int | None]:
    """The target as a record keeps it, and its full length if that was cut."""
    if target is None or len(target) <= TARGET_CAP:
        return target, None
    return target[:TARGET_CAP] + "...", len(target)


def recorded_input(request: Request, asked: tuple[tuple[Lookup, Any], ...]) -> dict[str, Any]:
    """The `decision_input` of a record ({} when the request line says it all), within
    DECISION_INPUT_CAP: past it, only the headers and how large the rest was."""
    out = _recorded_input(request, asked)
    size = len(json.dumps(out, default=str))
    if size <= DECISION_INPUT_CAP:
        return out
    kept = {"headers": out["headers"]} if "headers" in out else {}
    return {**kept, "omitted": size}


def _recorded_input(request: Request, asked: tuple[tuple[Lookup, Any], ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    headers = {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in request.head.headers
        if name in DECIDING_HEADERS
    }
    if headers:
        out["headers"] = headers
    if request.body == b"" and request.endpoint in BODY_ENDPOINTS:
        out["body"] = None  # read, and empty (a start without a HostConfig)
    elif request.body is not None and request.endpoint in BODY_ENDPOINTS:
        try:
            out["body"] = masked_decoded(request.decoded_body())
        except BodyDecodeError as exc:
            out["body_error"] = str(exc)
    if asked:
        out["asked"] = [_asked(lookup, answer) for lookup, answer in asked]
    return out


def _asked(lookup: Lookup, answer: Any) -> dict[str, Any]:
    if isinstance(lookup, ReadDaemonFacts):
        return {"lookup": "daemon", "answer": asdict(answer) if answer is not None else None}
    if isinstance(lookup, ContainersWithIdPrefix):
        return {"lookup": "id_prefix", "name": lookup.prefix, "answer": masked_decoded(answer)}
    if isinstance(lookup, ImagesOfRepository):
        name = lookup.repository
        return {"lookup": "repository", "name": name, "answer": masked_decoded(answer)}
    if isinstance(lookup, InspectNow):
        kind, name = lookup.kind, lookup.name
    else:
        kind = _KINDS[type(lookup)]
        name = lookup.id if isinstance(lookup, InspectExec) else lookup.name
    return {"lookup": kind, "name": name, "answer": masked_decoded(answer)}


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def exchange_record(
    conn_id: int,
    client: Client,
    exchange: Exchange,
    now: float,
    record_prefix: str = "0-0-",
) -> ExchangeRecord:
    """The exchange's record, whatever its audit level (the caller drops it at "none",
    after the lineage has read it: `Lineage.link`).

    At level "request" (the default) a create's record carries the `summary` of what it
    asked for, and a decision's record what else it read (`decision_input`).
    """
    request = exchange.request
    decision = exchange.decision
    level = exchange.audit_level
    target, target_bytes = bounded_target(mask_target(exchange.target))
    record: ExchangeRecord = {
        "event": "exchange",
        "record_id": f"{record_prefix}{exchange.number}",
        "conn_id": conn_id,
        "request_no": exchange.number,
        **client.fields(),  # type: ignore[typeddict-item]  # mypy: summary etc. come later
        "method": exchange.method,
        "target": target,
        "api_version": request.api_version if request else None,
        "endpoint": request.endpoint if request else "unknown",
        "decision": exchange.outcome,
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
    if target_bytes is not None:
        record["target_bytes"] = target_bytes
    if decision is not None and decision.findings is not None:
        record["findings"] = [finding.code for finding in decision.findings]
    if exchange.mutated is not None:
        record["mutated"], record["mutation"] = True, exchange.mutated
    if exchange.redacted:
        record["redacted"] = list(exchange.redacted)
    if request is None or level != "request":
        return record
    if decision is not None:
        given = recorded_input(request, exchange.asked)
        if given:
            record["decision_input"] = given
    if exchange.local is None and summary.summarised(request.endpoint):
        asked = asked_for(exchange)
        if asked is not None:
            record["summary"] = asked
    return record


def incomplete_exchange_record(
    conn_id: int, front: str, exchange: Exchange, record_prefix: str = "0-0-"
) -> ExchangeRecord:
    """The record of an exchange whose full record could not be built: its place in the
    log, the path (no query: its secrets are masked by the step that failed), and the
    outcome, from plain values only."""
    decision = exchange.decision
    path, _ = bounded_target(str(exchange.target or "").split("?", 1)[0])
    return {
        "event": "exchange",
        "record_id": f"{record_prefix}{exchange.number}",
        "conn_id": conn_id,
        "request_no": exchange.number,
        "front": front,
        "method": str(exchange.method),
        "target": path,
        "api_version": None,
        "endpoint": "unknown",
        "decision": exchange.outcome,
        "rule": None,
        "profile": None,
        "code": decision.code if decision else exchange.code,
        "reason": exchange.reason,
        "status": exchange.status,
        "request_body_bytes": exchange.request_body_bytes,
        "response_body_bytes": exchange.response_body_bytes,
        "duration_ms": 0.0,
        "upgraded": exchange.upgraded,
        "incomplete": True,
    }


def asked_for(exchange: Exchange) -> dict[str, Any] | None:
    """What a forwarded create asked for (`sockspy.core.docker.summary`)."""
    if exchange.body_over_cap:
        return {"error": f"body over {summary.BODY_CAP} bytes, not summarised"}
    assert exchange.request is not None
    asked = summary.summarise(exchange.request)
    return summary.bounded(asked) if asked is not None else None


def session_start_record(
    conn_id: int,
    exchange: Exchange,
    kind: str,
    target: str | None,
    record_prefix: str = "0-0-",
    exec_made: Mapping[str, Any] | None = None,
) -> SessionStartRecord:
    """`exec_made`: the lineage's entry of the exec an `exec.start` names, if it has one
    (its session then names the command its create asked for, and who made it)."""
    record: SessionStartRecord = {
        "event": "session_start",
        "record_id": f"{record_prefix}{exchange.number}",
        "conn_id": conn_id,
        "request_no": exchange.number,
        "endpoint": exchange.request.endpoint if exchange.request else "unknown",
        "kind": kind,
    }
    if target is not None:
        record["object"] = target
        if exec_made is not None:
            asked = exec_made.get("asked") or {}
            for key in ("command", "user", "tty", "privileged", "working_dir"):
                if key in asked:
                    record[f"exec_{key}"] = asked[key]  # type: ignore[literal-required]
            record["created_by"] = exec_made["created_by"]
    return record


def session_end_record(
    start: SessionStartRecord,
    client_to_daemon: int,
    daemon_to_client: int,
    duration: float,
    outcome: Mapping[str, Any],
) -> SessionEndRecord:
    record: SessionEndRecord = {
        "event": "session_end",
        "record_id": start["record_id"],
        "conn_id": start["conn_id"],
        "request_no": start["request_no"],
        "endpoint": start["endpoint"],
        "kind": start["kind"],
        "client_to_daemon_bytes": client_to_daemon,
        "daemon_to_client_bytes": daemon_to_client,
        "duration_ms": _ms(duration),
    }
    if "object" in start:
        record["object"] = start["object"]
    record.update(outcome)  # type: ignore[typeddict-item]  # fields of sessions.outcome
    return record


def connection_record(
    conn_id: int,
    client: Client,
    requests: int,
    client_bytes: int,
    daemon_bytes: int,
    started: float,
    now: float,
    close_reason: str,
) -> ConnectionRecord:
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


def internal_error(
    conn_id: int,
    where: str,
    exc: BaseException,
    exchange: Exchange | None = None,
    record_prefix: str = "0-0-",
) -> InternalErrorRecord:
    """A step of the record path failed: the record it cost, named (built from plain
    values only, so that it cannot fail in turn)."""
    record: InternalErrorRecord = {
        "event": "internal_error",
        "conn_id": conn_id,
        "where": where,
        "error": repr(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }
    if exchange is not None:
        record["record_id"] = f"{record_prefix}{exchange.number}"
        record["request_no"] = exchange.number
        if exchange.request is not None:
            record["endpoint"] = exchange.request.endpoint
    return record
