"""One request/response exchange on a connection, as it progresses.

An exchange is in one `Phase`. Its request and its response end independently (a daemon
may answer before a forwarded body has ended), so there are two ways to `COMPLETE`:

    REQUEST ──request_read──> RESPONSE ──response_read──> COMPLETE ──recorded──> RECORDED
       └─────response_read──> ANSWERED ──request_read───────┘

`ended` takes any phase before `RECORDED` to `COMPLETE` at once: the connection broke,
or sockspy refused the rest, and nothing more of this exchange will come. Every event
not in `_NEXT` is a bug in the caller and raises `IllegalTransition` (the pump's error
boundary closes that connection, with its records).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sockspy.core.deciding.decision import Decision
from sockspy.core.deciding.lookups import Lookup
from sockspy.core.docker.request import Request
from sockspy.core.wire.head import RequestHead

if TYPE_CHECKING:
    from sockspy.core.records import SessionStartRecord


class IllegalTransition(RuntimeError):
    """A state machine of the conversation was asked for a move its table does not have."""


class Phase(enum.Enum):
    REQUEST = "request"  # its request is being read, decided or forwarded
    RESPONSE = "response"  # its request has ended; its response is owed or under way
    ANSWERED = "answered"  # its response has ended before its request did
    COMPLETE = "complete"  # both have ended: its record is due
    RECORDED = "recorded"


_NEXT: dict[tuple[Phase, str], Phase] = {
    (Phase.REQUEST, "request_read"): Phase.RESPONSE,
    (Phase.REQUEST, "response_read"): Phase.ANSWERED,
    (Phase.RESPONSE, "request_read"): Phase.RESPONSE,
    (Phase.RESPONSE, "response_read"): Phase.COMPLETE,
    (Phase.ANSWERED, "request_read"): Phase.COMPLETE,
    (Phase.ANSWERED, "response_read"): Phase.ANSWERED,
    (Phase.COMPLETE, "request_read"): Phase.COMPLETE,
    (Phase.COMPLETE, "response_read"): Phase.COMPLETE,
    (Phase.COMPLETE, "recorded"): Phase.RECORDED,
    **{(phase, "ended"): Phase.COMPLETE for phase in Phase if phase is not Phase.RECORDED},
}


@dataclass(frozen=True, slots=True)
class LocalAnswer:
    """A response sockspy makes itself (a denial, a refusal, a 502): its bytes, and
    whether the connection closes after it. Such an exchange never reaches the daemon."""

    data: bytes
    close: bool = False


@dataclass(slots=True)
class Exchange:
    """Mutable bookkeeping for one exchange; the audit record is built from it."""

    number: int
    started: float
    head: RequestHead | None = None
    request: Request | None = None
    raw_method: str | None = None
    raw_target: str | None = None
    decision: Decision | None = None
    verdict: str | None = None  # "allow", "deny", "would_deny" or "reject"
    reason: str | None = None
    code: str | None = None  # stable reason code of a refusal made by the core
    mutated: str | None = None  # what ownership added to the forwarded bytes
    held_head: bytes | None = None  # a response head held while its body is redacted
    redacted: tuple[str, ...] = ()  # what was removed from the response
    status: int | None = None
    request_body_bytes: int = 0
    response_body_bytes: int = 0
    local: LocalAnswer | None = None
    phase: Phase = Phase.REQUEST
    session: SessionStartRecord | None = None  # a hijack or a stream: its start record
    session_started: float = 0.0
    # What the gate asked the daemon to decide this request, with the answers: replay
    # decides it again from these (`sockspy.core.audit.replay`).
    asked: tuple[tuple[Lookup, Any], ...] = ()
    response_body: bytes | None = None  # a create's response, kept to read what it made
    body_over_cap: bool = False  # the body was too long to keep for its summary

    def advance(self, event: str) -> None:
        """Move to the phase `event` leads to (see the module docstring)."""
        phase = _NEXT.get((self.phase, event))
        if phase is None:
            raise IllegalTransition(f"exchange {self.number}: {event} in phase {self.phase.name}")
        self.phase = phase

    @property
    def request_done(self) -> bool:
        return self.phase is not Phase.REQUEST and self.phase is not Phase.ANSWERED

    @property
    def response_done(self) -> bool:
        return self.phase is not Phase.REQUEST and self.phase is not Phase.RESPONSE

    @property
    def upgraded(self) -> bool:
        """The daemon switched protocols: the connection became this exchange's tunnel."""
        return self.status == 101

    @property
    def method(self) -> str | None:
        return self.head.method if self.head else self.raw_method

    @property
    def target(self) -> str | None:
        return self.head.target if self.head else self.raw_target
