"""The gate: every request head (and, where a rule reads it, its body) is decided here.

`Gate` is the seam the rules engine plugs into. The core asks `wants_body` first; if it
says yes, the body is buffered (up to a limit) and handed over in `Request.body` before
`decide` is called. Nothing of the request reaches the daemon before `decide` returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sockspy.core.docker.daemon import DaemonFacts
from sockspy.core.docker.request import Request
from sockspy.core.serving.identity import Client


@dataclass(frozen=True, slots=True)
class Decision:
    """What the gate says about one request.

    `allowed` is what happens to the bytes. `verdict` is what the audit record says:
    "allow", "deny", or "would_deny" (a rule denied it, but the policy runs in `warn` or
    `audit` mode, so it was forwarded). `code` is a stable reason code for machines,
    `reason` the sentence for people.
    """

    allowed: bool
    rule: str | None = None
    reason: str | None = None
    status: int = 403
    code: str | None = None
    profile: str | None = None
    verdict: str | None = None

    @property
    def label(self) -> str:
        if self.verdict is not None:
            return self.verdict
        return "allow" if self.allowed else "deny"


ALLOW = Decision(allowed=True)


def deny(rule: str, reason: str, status: int = 403, code: str | None = None) -> Decision:
    return Decision(allowed=False, rule=rule, reason=reason, status=status, code=code)


# Inspect answers by the name they were asked for; None: the daemon has no such object.
Containers = Mapping[str, Mapping[str, Any] | None]


@dataclass(frozen=True, slots=True)
class Facts:
    """What the I/O layer looked up for the gate before it decides.

    `containers` maps each name or id the gate asked for (`containers_to_inspect`) to the
    daemon's `GET /containers/{id}/json` answer, or None when there is no such container;
    `volumes` the same for volume names (`volumes_to_inspect`, `GET /volumes/{name}`).
    `daemon` is what the daemon says about itself (`GET /version`, `GET /info`) when the
    gate asked for it (`wants_daemon_facts`); None when not asked for or not known, and
    the checks that depend on it then take their strict form.
    """

    containers: Containers = field(default_factory=dict)
    daemon: DaemonFacts | None = None
    volumes: Containers = field(default_factory=dict)


NO_FACTS = Facts()


class Gate(Protocol):
    def wants_body(self, request: Request, client: Client) -> bool:
        """Whether `decide` needs the request body to decide."""
        ...

    def containers_to_inspect(self, request: Request, client: Client) -> tuple[str, ...]:
        """Existing containers whose configuration `decide` needs (looked up first)."""
        ...

    def volumes_to_inspect(
        self, request: Request, client: Client, containers: Containers
    ) -> tuple[str, ...]:
        """Volumes (by name) whose options `decide` needs, if they exist (looked up after
        the containers, whose inspect answers `containers` holds: their volumes count)."""
        ...

    def wants_daemon_facts(self, request: Request, client: Client) -> bool:
        """Whether `decide` would use the daemon's own defaults (`Facts.daemon`)."""
        ...

    def decide(self, request: Request, client: Client, facts: Facts) -> Decision: ...


class AllowAll:
    """The default of the core: forward everything (and audit it)."""

    def wants_body(self, request: Request, client: Client) -> bool:
        return False

    def containers_to_inspect(self, request: Request, client: Client) -> tuple[str, ...]:
        return ()

    def volumes_to_inspect(
        self, request: Request, client: Client, containers: Containers
    ) -> tuple[str, ...]:
        return ()

    def wants_daemon_facts(self, request: Request, client: Client) -> bool:
        return False

    def decide(self, request: Request, client: Client, facts: Facts) -> Decision:
        return ALLOW


class DenyEndpoints:
    """Deny a fixed set of endpoint names (`--deny-endpoint`), ask `inner` about the rest.

    The denial is enforced whatever the inner policy's mode: it is an explicit order.
    """

    rule = "deny-endpoint"

    def __init__(self, endpoints: Iterable[str], inner: Gate | None = None) -> None:
        self.endpoints = frozenset(endpoints)
        self.inner: Gate = inner if inner is not None else AllowAll()

    def wants_body(self, request: Request, client: Client) -> bool:
        return request.endpoint not in self.endpoints and self.inner.wants_body(request, client)

    def containers_to_inspect(self, request: Request, client: Client) -> tuple[str, ...]:
        if request.endpoint in self.endpoints:
            return ()
        return self.inner.containers_to_inspect(request, client)

    def volumes_to_inspect(
        self, request: Request, client: Client, containers: Containers
    ) -> tuple[str, ...]:
        if request.endpoint in self.endpoints:
            return ()
        return self.inner.volumes_to_inspect(request, client, containers)

    def wants_daemon_facts(self, request: Request, client: Client) -> bool:
        return request.endpoint not in self.endpoints and self.inner.wants_daemon_facts(
            request, client
        )

    def decide(self, request: Request, client: Client, facts: Facts) -> Decision:
        if request.endpoint in self.endpoints:
            return deny(self.rule, f"{request.endpoint} is denied", code="endpoint_denied")
        return self.inner.decide(request, client, facts)
