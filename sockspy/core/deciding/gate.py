"""The gate: the one seam between a request head and its forward.

A gate answers two questions about each request, both without I/O:

* `wants_body`, as soon as the head is read: whether it must see the body (buffered, up
  to its `body_limit`, and handed over in `Request.body`) before it decides;
* `judge`: the decision procedure. It yields the daemon facts it needs (`lookups`) and
  returns the `Decision`. `Judgement` drives it; nothing of the request reaches the
  daemon before it has returned.

`body_limit` travels with the gate: the conversation pins the gate in force when a head
is read (`GateInForce`), and that one gate's limit, body question and decision apply to
the whole request, whatever a reload does meanwhile.

Wrappers (`DenyEndpoints`, the rate limit) stand in front of another gate and override
`judge`; the body question and its limit are the inner gate's (except that a denied
endpoint's body is never asked for).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from sockspy.core.deciding.client import Client
from sockspy.core.deciding.decision import ALLOW, Decision, deny
from sockspy.core.deciding.lookups import Procedure
from sockspy.core.docker.request import Request

# A body a rule reads is held in memory until decided; larger ones are refused (413).
MAX_INSPECTED_BODY = 1024 * 1024


class Gate(Protocol):
    def body_limit(self, request: Request) -> int:
        """The largest body of `request` that `judge` may be handed; a larger one is
        refused with 413 (a build's context may be larger than a JSON body)."""
        ...

    def wants_body(self, request: Request, client: Client) -> bool:
        """Whether `judge` needs the request body to decide."""
        ...

    def judge(self, request: Request, client: Client) -> Procedure[Decision]:
        """The decision, as a procedure that yields look-ups (`sockspy.core.deciding.lookups`)."""
        ...


class AllowAll:
    """The default of the core: forward everything (and audit it)."""

    def body_limit(self, request: Request) -> int:
        return MAX_INSPECTED_BODY

    def wants_body(self, request: Request, client: Client) -> bool:
        return False

    def judge(self, request: Request, client: Client) -> Procedure[Decision]:
        return ALLOW
        yield  # a generator that asks nothing


class GateWrapper:
    """A gate in front of `inner`: subclasses override `judge`, the rest is `inner`'s."""

    def __init__(self, inner: Gate) -> None:
        self.inner = inner

    def body_limit(self, request: Request) -> int:
        return self.inner.body_limit(request)

    def wants_body(self, request: Request, client: Client) -> bool:
        return self.inner.wants_body(request, client)

    def judge(self, request: Request, client: Client) -> Procedure[Decision]:
        return self.inner.judge(request, client)


class DenyEndpoints(GateWrapper):
    """Deny a fixed set of endpoint names (`--deny-endpoint`), ask `inner` about the rest.

    The denial is enforced whatever the inner policy's mode: it is an explicit order. A
    denied endpoint's body is never buffered (`wants_body`): nothing of it is read.
    """

    rule = "deny-endpoint"

    def __init__(self, endpoints: Iterable[str], inner: Gate | None = None) -> None:
        super().__init__(inner if inner is not None else AllowAll())
        self.endpoints = frozenset(endpoints)

    def wants_body(self, request: Request, client: Client) -> bool:
        return request.endpoint not in self.endpoints and self.inner.wants_body(request, client)

    def judge(self, request: Request, client: Client) -> Procedure[Decision]:
        if request.endpoint in self.endpoints:
            return deny(self.rule, f"{request.endpoint} is denied", code="endpoint_denied")
        return (yield from self.inner.judge(request, client))


class GateInForce:
    """The gate in force. `current` is replaced whole when the policy is reloaded (one
    reference store: atomic, trio is one thread); each request head pins it."""

    __slots__ = ("current",)

    def __init__(self, gate: Gate) -> None:
        self.current = gate
