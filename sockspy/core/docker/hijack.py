"""When dockerd hijacks a connection, and when sockspy refuses to let it.

dockerd turns attach and exec-start connections into raw byte streams. With an `Upgrade`
header it answers `101 UPGRADED`; without one it still hijacks, behind a `200 OK` with no
length, a stream no HTTP parser can follow. sockspy therefore requires `Upgrade` on
hijacking routes. The one exception is a detached exec start (`docker exec -d` sends no
`Upgrade`): the daemon does not hijack it, so its body is read, with Go's rules, to
tell the two apart.
"""

from __future__ import annotations

from sockspy.core.docker.gojson import BodyDecodeError, top_level_field
from sockspy.core.docker.request import Request

EXEC_START = "exec.start"


def needs_body(request: Request) -> bool:
    """Whether the Upgrade check has to read the body (an exec start without Upgrade)."""
    return request.hijacks and not request.head.upgrade and request.endpoint == EXEC_START


def refusal(request: Request) -> str | None:
    """Why this hijacking request must be refused, or None if it may go on."""
    if not request.hijacks or request.head.upgrade:
        return None
    if request.endpoint == EXEC_START and request.body is not None:
        try:
            detached = top_level_field(request.body, "Detach") is True
        except BodyDecodeError as exc:
            return f"exec start without Upgrade: {exc}"
        if detached:
            return None
    return f"{request.endpoint} hijacks the connection and needs an 'Upgrade' header"
