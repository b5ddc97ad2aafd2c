"""Who did what, from an audit log: the data of `sockspy audit report`.

Records are grouped by client identity as `sockspy.core.audit.view.who` words it (the
person behind sudo, the program, the container, the certificate, the address). For each:
the endpoints it used, its denials with their rules, its sessions with their commands
and exit codes, and the objects it created. A session's records carry no identity of
their own; they belong to the client of the connection they ran on (the record id's
"<run>-<conn>" part). A timeline counts exchanges per minute, allowed and denied.

Sans-IO: records in, a plain dict out (`as_dict`), which the renderers
(`sockspy.core.audit.report_render`) turn into JSON, Markdown or HTML.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sockspy.core.audit.view import who

_DENIALS = frozenset({"deny", "would_deny", "reject"})
# The identity facts a client's section lists, when its records have them.
IDENTITY_FIELDS = (
    "front", "peer_uid", "peer_user", "peer_login_user", "peer_exe", "peer_unit",
    "peer_container", "peer_container_name", "client_ip", "client_container", "tls_cn",
    "tls_serial", "tls_issuer",
)  # fmt: skip


@dataclass(slots=True)
class ClientActivity:
    name: str
    identity: dict[str, Any] = field(default_factory=dict)
    first: str = ""
    last: str = ""
    requests: int = 0
    endpoints: Counter[str] = field(default_factory=Counter)
    denials: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    created: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "client": self.name,
            "identity": self.identity,
            "first": self.first,
            "last": self.last,
            "requests": self.requests,
            "denied": len(self.denials),
            "endpoints": dict(self.endpoints.most_common()),
            "denials": self.denials,
            "sessions": self.sessions,
            "created": self.created,
        }


@dataclass(slots=True)
class AuditReport:
    clients: dict[str, ClientActivity] = field(default_factory=dict)
    first: str = ""
    last: str = ""
    exchanges: int = 0
    denied: int = 0
    timeline: dict[str, list[int]] = field(default_factory=dict)  # minute -> [allowed, denied]

    def as_dict(self) -> dict[str, Any]:
        clients = sorted(self.clients.values(), key=lambda c: (-c.requests, c.name))
        return {
            "from": self.first,
            "to": self.last,
            "exchanges": self.exchanges,
            "denied": self.denied,
            "clients": [client.as_dict() for client in clients],
            "timeline": [
                {"minute": minute, "allowed": counts[0], "denied": counts[1]}
                for minute, counts in sorted(self.timeline.items())
            ],
        }


def build(records: Iterable[Mapping[str, Any]]) -> AuditReport:
    report = AuditReport()
    by_connection: dict[str, str] = {}  # "<run>-<conn>" -> client name
    for record in records:
        event = record.get("event")
        stamp = str(record.get("timestamp") or "")
        if event == "exchange":
            client = _client(report, record)
            by_connection[_connection(record)] = client.name
            _exchange(report, client, record, stamp)
        elif event == "session_end":
            name = by_connection.get(_connection(record))
            if name is not None:
                report.clients[name].sessions.append(_session(record, stamp))
        elif event == "connection_refused":
            client = _client(report, record)
            client.denials.append(
                {"time": stamp, "endpoint": None, "rule": record.get("code"),
                 "reason": record.get("reason"), "status": record.get("status")}
            )  # fmt: skip
    return report


def _connection(record: Mapping[str, Any]) -> str:
    record_id = str(record.get("record_id") or "")
    return record_id.rsplit("-", 1)[0] if record_id else f"conn-{record.get('conn_id')}"


def _client(report: AuditReport, record: Mapping[str, Any]) -> ClientActivity:
    name = who(record)
    client = report.clients.get(name)
    if client is None:
        client = report.clients[name] = ClientActivity(name)
        client.identity = {k: record[k] for k in IDENTITY_FIELDS if record.get(k) is not None}
    return client


def _exchange(
    report: AuditReport, client: ClientActivity, record: Mapping[str, Any], stamp: str
) -> None:
    report.exchanges += 1
    report.first = report.first or stamp
    report.last = stamp or report.last
    client.first = client.first or stamp
    client.last = stamp or client.last
    client.requests += 1
    endpoint = str(record.get("endpoint") or "unknown")
    client.endpoints[endpoint] += 1
    denied = record.get("decision") in _DENIALS
    minute = report.timeline.setdefault(stamp[:16], [0, 0])
    minute[1 if denied else 0] += 1
    if denied:
        report.denied += 1
        client.denials.append(
            {"time": stamp, "endpoint": endpoint, "rule": record.get("rule"),
             "reason": record.get("reason"), "status": record.get("status"),
             "verdict": record.get("decision")}
        )  # fmt: skip
    made = record.get("made")
    if isinstance(made, Mapping):
        summary = record.get("summary")
        run = summary.get("run") if isinstance(summary, Mapping) else None
        client.created.append({"time": stamp, **made, **({"run": run} if run else {})})


def _session(record: Mapping[str, Any], stamp: str) -> dict[str, Any]:
    session = {
        "time": stamp,
        "endpoint": record.get("endpoint"),
        "object": record.get("object"),
        "duration_ms": record.get("duration_ms"),
        "bytes_in": record.get("client_to_daemon_bytes"),
        "bytes_out": record.get("daemon_to_client_bytes"),
    }
    for key in ("exec_command", "exec_user", "exit_code", "container_id", "transcript"):
        if key in record:
            session[key.removeprefix("exec_")] = record[key]
    return session
