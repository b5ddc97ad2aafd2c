"""One request/response exchange on a connection, as it progresses."""

from __future__ import annotations

from dataclasses import dataclass

from sockspy.core.deciding.decision import Decision
from sockspy.core.docker.request import Request
from sockspy.core.wire.head import RequestHead


@dataclass(slots=True)
class Exchange:
    """Mutable bookkeeping for one exchange; the audit record is built from it.

    `local_response` holds the bytes of a response sockspy makes itself (a denial or a
    protocol error); such an exchange never reaches the daemon.
    """

    number: int
    started: float
    head: RequestHead | None = None
    request: Request | None = None
    raw_method: str | None = None
    raw_target: str | None = None
    decision: Decision | None = None
    verdict: str | None = None  # "allow", "deny" or "reject"
    reason: str | None = None
    code: str | None = None  # stable reason code of a refusal made by the core
    status: int | None = None
    request_body_bytes: int = 0
    response_body_bytes: int = 0
    upgraded: bool = False
    local_response: bytes | None = None
    close_after: bool = False
    request_done: bool = False
    response_done: bool = False
    recorded: bool = False
    finished: float | None = None

    @property
    def method(self) -> str | None:
        return self.head.method if self.head else self.raw_method

    @property
    def target(self) -> str | None:
        return self.head.target if self.head else self.raw_target
