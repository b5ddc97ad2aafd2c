"""How one response leaves for the client, chosen once, at its head.

Like mitmproxy's `state_stream_response_body` and `state_consume_response_body`: when a
response head arrives, its exchange chooses a plan, and every later step of that
response asks the plan what to send. The conversation has one code path for all of them
and no branch on what the plan is.

- `Relay` (nearly every response): each byte as it comes.
- `HoldWhole` (redaction, `Decision.redact`): the head and body are held, the whole body
  is rewritten, and the new answer leaves re-framed with a Content-Length. An answer
  that is too long, or that cannot be rewritten for any reason, is `Withheld`: the
  conversation answers 502 and never sends the original bytes (fail closed).

A new way for a response to leave ("record a build's output", "redact labels too") is
a new plan here, not a flag on the exchange and a branch in three conversation methods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from sockspy.core.deciding.decision import Decision
from sockspy.core.docker import redaction
from sockspy.core.docker.request import Request
from sockspy.core.wire import rewrite


class Withheld(Exception):
    """The answer must not reach the client as the daemon sent it, and cannot be changed:
    the conversation sends a 502 instead (`reason` says why)."""


class ResponsePlan(Protocol):
    """What to send of one response; `holds` asks the conversation to collect its body."""

    @property
    def holds(self) -> bool: ...

    @property
    def removed(self) -> tuple[str, ...]:
        """What the plan took out of the answer, for the record (set by `end`)."""
        ...

    def head(self, head: bytes) -> list[bytes]: ...

    def chunk(self, raw: bytes, kept: int) -> list[bytes]:
        """A piece of the body as framed on the wire; `kept`: bytes collected so far."""
        ...

    def end(self, body: bytes) -> list[bytes]:
        """The body has ended (`body`: de-chunked, when `holds`)."""
        ...


class Relay:
    """Every byte as it comes (the default)."""

    holds: Final = False
    removed: Final[tuple[str, ...]] = ()

    def head(self, head: bytes) -> list[bytes]:
        return [head]

    def chunk(self, raw: bytes, kept: int) -> list[bytes]:
        return [raw]

    def end(self, body: bytes) -> list[bytes]:
        return []


RELAY: Final = Relay()


@dataclass(slots=True)
class HoldWhole:
    """Held whole, rewritten, re-framed with a Content-Length (redaction)."""

    rewrite: Callable[[bytes], bytes]
    limit: int
    what: tuple[str, ...]  # what `rewrite` removes, for the record
    removed: tuple[str, ...] = ()
    _head: bytes = b""

    @property
    def holds(self) -> bool:
        return True

    def head(self, head: bytes) -> list[bytes]:
        self._head = head
        return []

    def chunk(self, raw: bytes, kept: int) -> list[bytes]:
        if kept > self.limit:
            raise Withheld(f"the answer is over {self.limit} bytes")
        return []

    def end(self, body: bytes) -> list[bytes]:
        try:
            new = self.rewrite(body)
            head = rewrite.response_with_body(self._head, new)
        except Exception as exc:  # any failure: withheld, never the original bytes
            raise Withheld(str(exc) or type(exc).__name__) from exc
        self.removed = self.what
        return [head, new]


def plan(decision: Decision | None, request: Request | None, status: int) -> ResponsePlan:
    """How the response to `request` with this `status` leaves."""
    if (
        status == 200
        and decision is not None
        and decision.redact
        and request is not None
        and request.endpoint in redaction.ENDPOINTS
    ):
        endpoint, fields = request.endpoint, decision.redact
        return HoldWhole(
            lambda body: redaction.redact(endpoint, body, fields),
            redaction.MAX_REDACTED_BODY,
            fields,
        )
    return RELAY
