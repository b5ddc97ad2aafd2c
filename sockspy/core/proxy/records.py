"""Audit records: one TypedDict per event, with stable snake_case fields.

The field names are an interface (users grep and index them); they are listed in the
README's record table, and a test holds the table, these types and what sockspy writes
to each other. The writer adds `timestamp` and `level`; durations are computed here from
the monotonic clock the core was given. The conversation's records (exchange, session,
connection) are built here; the serving process fills in the others where they happen.

(No ``from __future__ import annotations`` here, nor in `identity`: a TypedDict knows
which of its keys are `NotRequired` only from annotations it can evaluate.)
"""

from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict

from sockspy.core.audit.inputs import recorded_input
from sockspy.core.docker import objects, summary
from sockspy.core.docker.request import Request
from sockspy.core.docker.secrets import mask_target
from sockspy.core.proxy.exchange import Exchange
from sockspy.core.proxy.lineage import Lineage, ObjectFields
from sockspy.core.serving.identity import Client, ClientFields

Record = Mapping[str, Any]  # any record, as the log writer takes it


class ExchangeRecord(ClientFields):
    event: Literal["exchange"]
    record_id: str  # "<run>-<conn_id>-<request_no>": unique in one server's log
    conn_id: int
    request_no: int
    method: str | None
    target: str | None
    api_version: str | None
    endpoint: str
    decision: str | None  # allow, deny, would_deny, reject
    rule: str | None
    profile: str | None
    code: str | None
    reason: str | None
    status: int | None
    request_body_bytes: int
    response_body_bytes: int
    duration_ms: float
    upgraded: bool
    # What a create asked for (`sockspy.core.docker.summary`), at audit level "request":
    summary: NotRequired[dict[str, Any]]
    made: NotRequired[ObjectFields]  # what a successful create made
    object: NotRequired[ObjectFields]  # the object the request touches, if sockspy saw it made
    created_by: NotRequired[dict[str, Any]]  # ... and who made it: identity and record_id
    findings: NotRequired[list[str]]  # the host-access findings the decision read (codes)
    # The forwarded bytes differ from the client's: ownership added a label or filter.
    mutated: NotRequired[bool]
    mutation: NotRequired[str]  # what was added: "label io.sockspy.owner=team-a"
    redacted: NotRequired[list[str]]  # what was removed from the answer: "env", "mounts"
    # At level "request": what else the decision read, for replay (`core.audit.inputs`).
    decision_input: NotRequired[dict[str, Any]]


class SessionStartRecord(TypedDict):
    event: Literal["session_start"]
    record_id: str  # the record id of the exchange that opened it
    conn_id: int
    request_no: int
    endpoint: str
    kind: str  # "hijack" (attach, exec start) or "stream" (logs -f, events, stats, wait)
    object: NotRequired[str]  # the exec id or container name the request names
    # An exec started through sockspy: what its create asked for, and who made it.
    exec_command: NotRequired[list[str]]
    exec_user: NotRequired[str]
    exec_tty: NotRequired[bool]
    exec_privileged: NotRequired[bool]
    exec_working_dir: NotRequired[str]
    created_by: NotRequired[dict[str, Any]]


class SessionEndRecord(TypedDict):
    event: Literal["session_end"]
    record_id: str
    conn_id: int
    request_no: int
    endpoint: str
    kind: str
    object: NotRequired[str]
    client_to_daemon_bytes: int
    daemon_to_client_bytes: int
    duration_ms: float
    # A hijacked session, as the daemon tells it once it has ended (`sessions.outcome`):
    exec_command: NotRequired[list[str]]
    exec_user: NotRequired[str]
    exec_tty: NotRequired[bool]
    exec_privileged: NotRequired[bool]
    container_id: NotRequired[str]
    running: NotRequired[bool]
    exit_code: NotRequired[int | None]
    # A recorded session (`record = "output" | "all"`): its asciicast file.
    transcript: NotRequired[str]
    transcript_bytes: NotRequired[int]
    transcript_truncated: NotRequired[bool]
    transcript_dropped: NotRequired[int]
    transcript_error: NotRequired[str]


class ConnectionRecord(ClientFields):
    event: Literal["connection"]
    conn_id: int
    requests: int
    client_bytes: int
    daemon_bytes: int
    duration_ms: float
    close_reason: str


class PolicyFields(TypedDict, total=False):
    """What the log and /healthz say of a policy in force."""

    source: str
    mode: str
    rules: int
    profiles: int
    deny_endpoints: list[str]


class PolicyRecord(PolicyFields):
    event: Literal["policy"]


class PolicyReloadRecord(PolicyFields):
    event: Literal["policy_reload"]
    ok: bool
    error: NotRequired[str]
    problems: NotRequired[list[str]]


class CertFields(TypedDict, total=False):
    """What the server certificate in force says of itself (`certinfo`)."""

    cert_subject: str | None
    cert_names: list[str]
    cert_not_after: str
    cert_days_left: int
    cert_error: str


class TlsRecord(CertFields):
    event: Literal["tls"]


class TlsReloadRecord(CertFields):
    event: Literal["tls_reload"]
    ok: bool
    reason: NotRequired[str]
    error: NotRequired[str]


class ListeningRecord(TypedDict):
    event: Literal["listening"]
    address: str
    admin: NotRequired[bool]


class WorkersRecord(TypedDict):
    event: Literal["workers"]
    workers: int  # `serve --workers N`: the supervisor's first record


class WorkerMetricsRecord(TypedDict):
    """Not written to the log: a worker's counters on their way to its supervisor."""

    event: Literal["worker_metrics"]
    metrics: dict[str, Any]
    exchanges: dict[str, int]
    health: dict[str, Any]


class UpstreamRecord(TypedDict):
    event: Literal["upstream"]
    address: str


class StoppingRecord(TypedDict):
    event: Literal["stopping"]
    signal: str
    open_connections: int
    grace_period_s: float


class StoppedRecord(TypedDict):
    event: Literal["stopped"]


class AcceptFailedRecord(TypedDict):
    event: Literal["accept_failed"]
    address: str
    error: str | None


class TlsRefusedRecord(ClientFields):
    event: Literal["tls_refused"]
    conn_id: int
    reason: str


class ConnectionRefusedRecord(ClientFields):
    event: Literal["connection_refused"]
    conn_id: int
    status: int
    code: str
    reason: str


class AuditDroppedRecord(TypedDict):
    event: Literal["audit_dropped"]
    dropped: int
    dropped_total: int


class CheckpointRecord(TypedDict):
    """Written by the log writer itself (`sockspy.core.audit.chain.Chain.checkpoint`)."""

    event: Literal["checkpoint"]
    reason: str  # periodic, shutdown
    covers_seq: int
    covers_link: str
    keyed: bool
    public_key: str
    key_fingerprint: str
    signature: str


class InternalErrorRecord(TypedDict):
    event: Literal["internal_error"]
    conn_id: int
    error: str
    traceback: str


# Every event sockspy writes, by its name.
RECORD_TYPES: dict[str, type] = {
    "exchange": ExchangeRecord,
    "session_start": SessionStartRecord,
    "session_end": SessionEndRecord,
    "connection": ConnectionRecord,
    "policy": PolicyRecord,
    "policy_reload": PolicyReloadRecord,
    "tls": TlsRecord,
    "tls_reload": TlsReloadRecord,
    "listening": ListeningRecord,
    "upstream": UpstreamRecord,
    "workers": WorkersRecord,
    "stopping": StoppingRecord,
    "stopped": StoppedRecord,
    "accept_failed": AcceptFailedRecord,
    "tls_refused": TlsRefusedRecord,
    "connection_refused": ConnectionRefusedRecord,
    "audit_dropped": AuditDroppedRecord,
    "checkpoint": CheckpointRecord,
    "internal_error": InternalErrorRecord,
}


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
