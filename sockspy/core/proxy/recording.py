"""Building the conversation's records: exchange, session start and end, connection.

Pure builders: each takes what happened and returns a record (`sockspy.core.records`),
and writes nothing. The one write a record causes, to the server-wide lineage memory, is
`Lineage.link`, called by the conversation right after the exchange record is built.
Durations are computed from the monotonic clock the core was given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from sockspy.core.deciding.client import Client
from sockspy.core.deciding.lookups import (
    ContainersWithIdPrefix,
    InspectContainer,
    InspectExec,
    InspectImage,
    InspectNow,
    InspectVolume,
    Lookup,
    ReadDaemonFacts,
)
from sockspy.core.docker import objects, summary
from sockspy.core.docker.bodies import BODY_ENDPOINTS
from sockspy.core.docker.gojson import BodyDecodeError
from sockspy.core.docker.request import Request
from sockspy.core.docker.secrets import mask_target, masked_decoded
from sockspy.core.proxy.exchange import Exchange
from sockspy.core.proxy.lineage import Lineage
from sockspy.core.records import (
    ConnectionRecord,
    ExchangeRecord,
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


def recorded_input(request: Request, asked: tuple[tuple[Lookup, Any], ...]) -> dict[str, Any]:
    """The `decision_input` of a record ({} when the request line says it all)."""
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
    lineage: Lineage | None = None,
) -> ExchangeRecord | None:
    """The exchange's record; None when its rule says `audit = "none"`.

    At level "request" (the default) a create's record carries the `summary` of what it
    asked for; at every level the objects it made go to `lineage`, and a request that
    touches one gets `object` and `created_by`.
    """
    request = exchange.request
    decision = exchange.decision
    level = decision.audit if decision is not None else "request"
    record: ExchangeRecord = {
        "event": "exchange",
        "record_id": f"{record_prefix}{exchange.number}",
        "conn_id": conn_id,
        "request_no": exchange.number,
        **client.fields(),  # type: ignore[typeddict-item]  # mypy: summary etc. come later
        "method": exchange.method,
        "target": mask_target(exchange.target),
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
    if decision is not None and decision.findings is not None:
        record["findings"] = [finding.code for finding in decision.findings]
    if exchange.mutated is not None:
        record["mutated"], record["mutation"] = True, exchange.mutated
    if exchange.redacted:
        record["redacted"] = list(exchange.redacted)
    if request is None or (exchange.local is not None and decision is None):
        return None if level == "none" else record
    if level == "request" and decision is not None:
        given = recorded_input(request, exchange.asked)
        if given:
            record["decision_input"] = given
    if exchange.local is not None:
        return None if level == "none" else record
    asked = None
    if summary.summarised(request.endpoint):
        asked = (
            {"error": f"body over {summary.BODY_CAP} bytes, not summarised"}
            if exchange.body_over_cap
            else summary.summarise(request)
        )
        if level == "request" and asked is not None:
            record["summary"] = asked
    if lineage is not None:
        _link(record, request, exchange, lineage, asked)
    return None if level == "none" else record


def _link(
    record: ExchangeRecord,
    request: Request,
    exchange: Exchange,
    lineage: Lineage,
    asked: Mapping[str, Any] | None,
) -> None:
    """Lineage: remember what a create made; name the maker of what a request touches."""
    touched = objects.touched(request)
    if touched is not None:
        found = lineage.find(*touched)
        if found is not None:
            record["object"] = found["object"]
            record["created_by"] = found["created_by"]
            status = exchange.status or 0
            if 200 <= status < 300:
                if request.endpoint.endswith(".delete"):
                    lineage.forget(*touched)
                elif request.endpoint == "container.rename" and request.query_get("name"):
                    lineage.renamed(*touched, str(request.query_get("name")))
    if exchange.response_body is None:
        return
    name = asked.get("name") if asked else None
    if request.endpoint == "image.build" and asked and asked.get("tags"):
        name = asked["tags"][0]
    made = objects.created(request, exchange.status, exchange.response_body, name)
    if made is not None:
        record["made"] = lineage.made(made, record["record_id"], record)


def session_start_record(
    conn_id: int,
    exchange: Exchange,
    kind: str,
    target: str | None,
    record_prefix: str = "0-0-",
    lineage: Lineage | None = None,
) -> SessionStartRecord:
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
        made = (
            lineage.find("exec", target) if lineage and record["endpoint"] == "exec.start" else None
        )
        if made is not None:
            asked = made.get("asked") or {}
            for key in ("command", "user", "tty", "privileged", "working_dir"):
                if key in asked:
                    record[f"exec_{key}"] = asked[key]  # type: ignore[literal-required]
            record["created_by"] = made["created_by"]
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
