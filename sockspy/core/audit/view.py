"""Audit records as people read them live: one line per exchange and session.

`sockspy tail` shows these lines. Who is asking comes first in the words an operator uses
(the person behind sudo, else the user; the program; the container; the certificate; the
address), then the verdict, the request and what it gave.

Sans-IO: a record in, a line (or None: not shown) out.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RESET = "\x1b[0m"
_COLORS = {
    "allow": "\x1b[32m",  # green
    "deny": "\x1b[1;31m",  # bold red
    "would_deny": "\x1b[33m",  # yellow
    "reject": "\x1b[35m",  # magenta
    "session": "\x1b[36m",  # cyan
    "dim": "\x1b[2m",
}
_VERDICT = {"allow": "ALLOW", "deny": "DENY", "would_deny": "WOULD", "reject": "REJECT"}
_DENIALS = frozenset({"deny", "would_deny", "reject"})
SHOWN = frozenset({"exchange", "session_start", "session_end", "connection_refused"})


def who(record: Mapping[str, Any]) -> str:
    """The client in a few words: "alice(root) docker", "traefik 172.18.0.5", "cn=ci"."""
    parts = []
    person = record.get("peer_login_user")
    user = record.get("peer_user")
    if person and user and person != user:
        parts.append(f"{person}({user})")
    elif person or user:
        parts.append(str(person or user))
    elif record.get("peer_uid") is not None:
        parts.append(f"uid {record['peer_uid']}")
    if record.get("peer_exe"):
        parts.append(str(record["peer_exe"]).rsplit("/", 1)[-1])
    container = record.get("peer_container_name") or record.get("client_container")
    if container:
        parts.append(f"[{container}]")
    elif record.get("peer_container"):
        parts.append(f"[{str(record['peer_container'])[:12]}]")
    if record.get("tls_cn"):
        parts.append(f"cn={record['tls_cn']}")
    if record.get("client_ip") and not container:
        parts.append(str(record["client_ip"]))
    return " ".join(parts) or str(record.get("front", "?"))


@dataclass(frozen=True, slots=True)
class Filter:
    """Which records `tail` shows; every condition given must hold."""

    denied: bool = False  # only denials (and would-be denials, and refusals)
    client: str | None = None  # a substring of the client words (`who`)
    endpoint: str | None = None  # a glob over the endpoint name
    container: str | None = None  # a substring of the container the request names

    def shows(self, record: Mapping[str, Any]) -> bool:
        if record.get("event") not in SHOWN:
            return False
        refused = record.get("event") == "connection_refused"
        if self.denied and not refused and record.get("decision") not in _DENIALS:
            return False
        if self.client is not None and self.client not in who(record):
            return False
        endpoint = str(record.get("endpoint") or "")
        if self.endpoint is not None and not fnmatch.fnmatchcase(endpoint, self.endpoint):
            return False
        return self.container is None or self.container in _named_object(record)


def _named_object(record: Mapping[str, Any]) -> str:
    """Everything the record says of the container the request is about."""
    parts = [str(record.get("target") or ""), str(record.get("object") or "")]
    parts.append(str(record.get("container_id") or ""))
    return " ".join(parts)


def line(record: Mapping[str, Any], color: bool = False) -> str:
    """One line for a record `Filter` shows."""
    stamp = str(record.get("timestamp") or "")[11:23]  # HH:MM:SS.mmm
    event = record.get("event")
    if event == "exchange":
        verdict = str(record.get("decision") or "")
        label = _VERDICT.get(verdict, verdict.upper() or "-")
        text = (
            f"{stamp} {_paint(f'{label:<6}', verdict, color)} {who(record)}  "
            f"{record.get('method')} {record.get('endpoint')} {record.get('target')}  "
            f"{record.get('status')} {record.get('duration_ms')}ms"
        )
        if record.get("rule") and verdict != "allow":
            text += f"  rule={record['rule']}: {record.get('reason')}"
        summary = record.get("summary")
        if isinstance(summary, Mapping) and summary.get("run"):
            text += "  " + _paint(str(summary["run"]), "dim", color)
        return text
    if event == "session_start":
        return (
            f"{stamp} {_paint('▶ START', 'session', color)} {record.get('endpoint')} "
            f"{record.get('object', '')} ({record.get('kind')}, {record.get('record_id')})"
        )
    if event == "session_end":
        text = (
            f"{stamp} {_paint('■ END  ', 'session', color)} {record.get('endpoint')} "
            f"{record.get('object', '')} {record.get('duration_ms')}ms "
            f"↑{record.get('client_to_daemon_bytes')}B ↓{record.get('daemon_to_client_bytes')}B"
        )
        if record.get("exec_command"):
            text += f"  {' '.join(map(str, record['exec_command']))}"
        if "exit_code" in record:
            text += f"  exit={record['exit_code']}"
        if record.get("transcript"):
            text += f"  transcript={record['transcript']}"
        return text
    return (
        f"{stamp} {_paint('REFUSED', 'deny', color)} {who(record)}  "
        f"{record.get('status')} {record.get('reason')}"
    )


def _paint(text: str, kind: str, color: bool) -> str:
    return f"{_COLORS[kind]}{text}{RESET}" if color and kind in _COLORS else text
