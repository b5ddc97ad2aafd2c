"""Which exchanges are sessions, and what the daemon says of one when it has ended.

Two kinds of exchange run for as long as the client wants and get a `session_start` and a
`session_end` record around them:

* "hijack": attach and exec start, raw bytes both ways after a `101`;
* "stream": a response that streams until one side stops (``logs --follow``,
  ``events``, ``stats`` unless ``stream=0``, ``wait``).

When a hijacked session ends, the daemon is asked how it ended: an exec's
``GET /exec/{id}/json`` gives its command, user, tty, privilege and exit code (as the CLI
asks for `docker exec`'s own exit status); an attached container's inspect gives its
state. `outcome` turns those answers into record fields, without I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from sockspy.core.docker.request import Request, query_bool

Kind = Literal["hijack", "stream"]
_ALWAYS_STREAMS = frozenset({"system.events", "container.wait"})


def session_kind(request: Request) -> Kind | None:
    """The kind of session this request opens, or None for a plain exchange."""
    if request.hijacks:
        return "hijack"
    endpoint = request.endpoint
    if endpoint in _ALWAYS_STREAMS:
        return "stream"
    if endpoint == "container.logs" and query_bool(request.query_get("follow")):
        return "stream"
    if endpoint == "container.stats" and (
        request.query_get("stream") is None or query_bool(request.query_get("stream"))
    ):
        return "stream"
    return None


def session_object(request: Request) -> str | None:
    """The exec id or container name the session's request names."""
    return dict(request.params).get("name")


def outcome(endpoint: str, answer: Mapping[str, Any] | None) -> dict[str, Any]:
    """Record fields from the daemon's answer about an ended hijacked session: an exec's
    inspect for exec.start, the container's for an attach. {} when there is none."""
    if not isinstance(answer, Mapping):
        return {}
    if endpoint == "exec.start":
        process = answer.get("ProcessConfig") or {}
        command = [str(process.get("entrypoint") or "")]
        command += [str(arg) for arg in process.get("arguments") or []]
        return {
            "exec_command": command,
            "exec_user": str(process.get("user") or ""),
            "exec_tty": bool(process.get("tty")),
            "exec_privileged": bool(process.get("privileged")),
            "container_id": str(answer.get("ContainerID") or ""),
            "running": bool(answer.get("Running")),
            "exit_code": answer.get("ExitCode"),
        }
    state = answer.get("State") or {}
    running = bool(state.get("Running"))
    return {
        "container_id": str(answer.get("Id") or ""),
        "running": running,
        "exit_code": None if running else state.get("ExitCode"),
    }
