"""The gate: every request head (and, where a rule reads it, its body) is decided here.

`Gate` is the seam the rules engine plugs into. The core asks `wants_body` first; if it
says yes, the body is buffered (up to a limit) and handed over in `Request.body` before
`decide` is called. Nothing of the request reaches the daemon before `decide` returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from sockspy.core.identity import Client
from sockspy.core.request import Request


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    rule: str | None = None
    reason: str | None = None
    status: int = 403

    @property
    def label(self) -> str:
        return "allow" if self.allowed else "deny"


ALLOW = Decision(allowed=True)


def deny(rule: str, reason: str, status: int = 403) -> Decision:
    return Decision(allowed=False, rule=rule, reason=reason, status=status)


class Gate(Protocol):
    def wants_body(self, request: Request, client: Client) -> bool:
        """Whether `decide` needs the request body to decide."""
        ...

    def decide(self, request: Request, client: Client) -> Decision: ...


class AllowAll:
    """The default of the core: forward everything (and audit it)."""

    def wants_body(self, request: Request, client: Client) -> bool:
        return False

    def decide(self, request: Request, client: Client) -> Decision:
        return ALLOW


class DenyEndpoints:
    """Deny a fixed set of endpoint names (`--deny-endpoint`), allow the rest."""

    rule = "deny-endpoint"

    def __init__(self, endpoints: Iterable[str]) -> None:
        self.endpoints = frozenset(endpoints)

    def wants_body(self, request: Request, client: Client) -> bool:
        return False

    def decide(self, request: Request, client: Client) -> Decision:
        if request.endpoint in self.endpoints:
            return deny(self.rule, f"{request.endpoint} is denied")
        return ALLOW
