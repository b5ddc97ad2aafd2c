"""Audit records as people read them live: one line per exchange and session.

`sockspy tail` shows these lines. Who is asking comes first in the words an operator uses
(the person behind sudo, else the user; the program; the container; the certificate; the
address), then the verdict, the request and what it gave.

Sans-IO: a record in, a line (or None: not shown) out. What a client wrote (its command
line, its program's name, a target, a container name) is shown through `printable`: a
terminal control sequence in it must not redraw an operator's screen.
"""

from __future__ import annotations

import fnmatch
import unicodedata
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


def printable(value: object) -> str:
    """`value` as text a terminal shows as written: control characters (ESC, CR, BEL,
    the C1 set) and invisible format characters (bidi overrides, zero-width joiners) are
    written as escapes (``\x1b``, ``\u202e``)."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escaped(ch) for ch in text)


def _escaped(ch: str) -> str:
    code = ord(ch)
    if code < 0x100 and unicodedata.category(ch) == "Cc":
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


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
    """One line for a record `Filter` shows, with what the client wrote made printable."""
    return _line(printable_record(record), color)


def printable_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """`record` with every string in it made `printable` (for a console, never the file)."""
    return {key: _shown(value) for key, value in record.items()}


def _shown(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, Mapping):
        return {key: _shown(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_shown(item) for item in value]
    return value


def _line(record: Mapping[str, Any], color: bool) -> str:
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
