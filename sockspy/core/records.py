"""The audit log's interface: one TypedDict per event, with stable snake_case fields.

This is the ground floor of the core (like h11's `_events.py`): it imports nothing of
sockspy, so every layer can name a record type without reaching into another's room.
The field names are an interface (users grep and index them); they are listed in the
README's record table, and a test holds the table, these types and what sockspy writes
to each other. The writer adds `timestamp` and `level`. The conversation's records
(exchange, session, connection) are built by `sockspy.core.proxy.recording`; the serving
process fills in the others where they happen.

(No ``from __future__ import annotations`` here: a TypedDict knows which of its keys are
`NotRequired` only from annotations it can evaluate.)
"""

from collections.abc import Mapping
from typing import Any, Literal, NotRequired, Required, TypedDict


class ClientFields(TypedDict, total=False):
    """Who a record is about, flat: unix peers, tcp peers, certificate holders."""

    front: Required[str]
    peer_uid: int
    peer_gid: int
    peer_pid: int
    peer_exe: str
    peer_cmdline: list[str]
    peer_user: str
    peer_login_uid: int
    peer_login_user: str
    peer_ppid: int
    peer_parent_exe: str
    peer_unit: str
    peer_container: str
    peer_container_name: str
    client_ip: str
    client_port: int | None
    client_container_id: str
    client_container: str
    tls_cn: str | None
    tls_names: list[str]
    tls_serial: str
    tls_issuer: str


class ObjectFields(TypedDict):
    """An object in a record (`made`, `object`)."""

    kind: str  # container, exec, volume, network, service, image
    id: str
    name: NotRequired[str]
    parent: NotRequired[str]  # an exec's container


Record = Mapping[str, Any]  # any record, as the log writer takes it


class ExchangeRecord(ClientFields):
    event: Literal["exchange"]
    record_id: str  # "<run>-<conn_id>-<request_no>": unique in one server's log
    conn_id: int
    request_no: int
    method: str | None
    target: str | None  # at most recording.TARGET_CAP characters: see target_bytes
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
    # Its full record could not be built (an internal_error says why): what is left.
    incomplete: NotRequired[bool]
    target_bytes: NotRequired[int]  # the target's full length, where the record cut it


class LogFileRecord(TypedDict):
    """The first line of every file of a sealed log: why it was started, and what the
    rotation that started it deleted (`sockspy audit verify` reads them)."""

    event: Literal["log_file"]
    reason: str  # "new" (a new log) or "rotation"
    removed_first_seq: NotRequired[int]
    removed_last_seq: NotRequired[int]


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
    """A bug: on the byte path it closed one connection; on the record path (building,
    linking or rendering a record) it cost that record only, and names it."""

    event: Literal["internal_error"]
    conn_id: NotRequired[int]
    error: str
    traceback: NotRequired[str]
    where: NotRequired[str]  # the record path step that failed: "exchange_record", "render"
    record_id: NotRequired[str]  # the exchange whose record it cost
    request_no: NotRequired[int]
    endpoint: NotRequired[str]
    lost_event: NotRequired[str]  # the event of the record that could not be rendered


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
    "log_file": LogFileRecord,
    "internal_error": InternalErrorRecord,
}
