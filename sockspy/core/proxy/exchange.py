"""One request/response exchange on a connection: everything that belongs to it.

The connection (`sockspy.core.proxy.conversation`) keeps the buffers, the framing
readers, the order of responses and half-close. The exchange keeps what is one request's
own: its held head and body (changed in place by a tenant's `Mutation`, `apply`), how
its response leaves (`responses.ResponsePlan`, chosen at the response head), the
`Session` it opens (a hijack or a stream), and the facts its record is built from
(`sockspy.core.proxy.recording`). Its `Phase` moves through the table in
`sockspy.core.proxy.states`.

To add a field to an exchange record: the value goes here (if the connection learns
it), the field to `sockspy.core.records.ExchangeRecord` and the README's table, and the
line that writes it to `sockspy.core.proxy.recording.exchange_record`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from sockspy.core.deciding.decision import Decision, Mutation
from sockspy.core.deciding.lookups import Lookup
from sockspy.core.docker import labelling, sessions
from sockspy.core.docker.bodymembers import body_with_members
from sockspy.core.docker.gojson import BodyDecodeError
from sockspy.core.docker.request import Request, classify_request
from sockspy.core.proxy.responses import RELAY, ResponsePlan
from sockspy.core.proxy.states import Phase, next_phase
from sockspy.core.records import SessionStartRecord
from sockspy.core.wire import rewrite
from sockspy.core.wire.errors import error_response
from sockspy.core.wire.head import ProtocolError, RequestHead, parse_request_head
from sockspy.core.wire.rewrite import RewriteError


@dataclass(frozen=True, slots=True)
class LocalAnswer:
    """A response sockspy makes itself (a denial, a refusal, a 502): its bytes, and
    whether the connection closes after it. Such an exchange never reaches the daemon."""

    data: bytes
    close: bool = False


@dataclass(slots=True)
class Session:
    """What an exchange opened past its response head: a hijacked tunnel after a `101`,
    or a streamed response (logs -f, events, stats, wait)."""

    kind: str  # "hijack" or "stream"
    started: float
    start: SessionStartRecord | None  # its start record (None: it could not be built)
    early_up: bytes = b""  # client bytes held before the 101, released at the switch
    early_down: bytes = b""  # daemon bytes that came in the same read as the 101


@dataclass(slots=True)
class Exchange:
    """One request and its response, as they progress; the audit record is built from it.

    Set as the request is read: `head`, `request`, `head_bytes` and `held_body` (what is
    forwarded once the gate allows it). Set by the decision: `decision`, `outcome`,
    `reason`, `asked`, `mutated`. Set as the response is read: `response` (its plan),
    `status`, the byte counts, `response_body` (a create's, to read what it made),
    `redacted`, `session`. `local` is the answer sockspy made itself, if any.
    """

    number: int
    started: float
    head: RequestHead | None = None
    request: Request | None = None
    raw_method: str | None = None
    raw_target: str | None = None
    head_bytes: bytes = b""  # the request head as it will be forwarded
    held_body: list[bytes] = field(default_factory=list)  # body held while a rule reads it
    decision: Decision | None = None
    outcome: str | None = None  # "allow", "deny", "would_deny" or "reject"
    reason: str | None = None
    code: str | None = None  # stable reason code of a refusal made by the core
    mutated: str | None = None  # what ownership added to the forwarded bytes
    response: ResponsePlan = RELAY  # how its response leaves (chosen at the response head)
    redacted: tuple[str, ...] = ()  # what was removed from the response
    status: int | None = None
    request_body_bytes: int = 0
    response_body_bytes: int = 0
    local: LocalAnswer | None = None
    phase: Phase = Phase.REQUEST
    session: Session | None = None
    # What the gate asked the daemon to decide this request, with the answers: replay
    # decides it again from these (`sockspy.core.audit.replay`).
    asked: tuple[tuple[Lookup, Any], ...] = ()
    response_body: bytes | None = None  # a create's response, kept to read what it made
    body_over_cap: bool = False  # the body was too long to keep for its summary

    def read_head(self, head_bytes: bytes) -> Request:
        """Parse and route its head (`head_bytes`, the exact bytes to forward). Raises
        ProtocolError for a head sockspy cannot read exactly as dockerd; the request line
        is kept as it came for the record either way."""
        first_line = head_bytes.split(b"\r\n", 1)[0].decode("latin-1")
        self.raw_method, _, rest = first_line.partition(" ")
        self.raw_target = rest.rpartition(" ")[0] or rest
        self.head = parse_request_head(head_bytes)
        self.request = request = classify_request(self.head)
        if request.method != request.method.upper():
            message = f"method {request.method!r} is not in upper case"
            raise ProtocolError(400, message, "non_canonical_method")
        self.head_bytes = head_bytes
        return request

    def decided(self, decision: Decision, asked: tuple[tuple[Lookup, Any], ...]) -> None:
        """The gate's decision, and what it asked the daemon. An allowed request's
        mutation is applied here; one that cannot be made raises ProtocolError, and the
        decision it leaves is a refusal with its code."""
        self.decision, self.asked = decision, asked
        self.outcome = decision.outcome
        self.reason = decision.reason  # for "would_deny" too: why it would have been
        if decision.allowed and decision.mutation:
            try:
                self.apply(decision.mutation)
            except (RewriteError, BodyDecodeError) as exc:
                error = ProtocolError(400, f"cannot change the request: {exc}", "mutation_failed")
                self.decision = replace(
                    decision, allowed=False, code=error.code, reason=error.message, mutation=None
                )
                raise error from exc

    def refused(self, error: ProtocolError) -> None:
        """sockspy refused it itself (`error`): its record says reject, and why."""
        self.outcome, self.reason, self.code = "reject", error.message, error.code

    def answer_locally(self, status: int, message: str, close: bool = False) -> None:
        """sockspy answers it with a Docker-style error; the connection closes after it
        when `close`, or when the request asked to."""
        self.status = status
        asked_to_close = self.head is not None and not self.head.keep_alive
        data = error_response(
            status, message, close=close or asked_to_close, head=self.method == "HEAD"
        )
        self.local = LocalAnswer(data, close)

    def advance(self, event: str) -> None:
        """Move to the phase `event` leads to (`sockspy.core.proxy.states`)."""
        self.phase = next_phase(self.phase, event, self.number)

    def apply(self, mutation: Mutation) -> None:
        """Change the held head (and body) as the decision says: ownership's labels and
        filters, the one documented change to forwarded bytes (`core.wire.rewrite`).
        Raises RewriteError or BodyDecodeError; then nothing was changed."""
        head = self.head_bytes
        held = self.held_body
        if mutation.query is not None:
            head = rewrite.with_query_value(head, *mutation.query)
        if mutation.query_added is not None:
            head = rewrite.with_query_added(head, *mutation.query_added)
        if mutation.path_name is not None:
            head = rewrite.with_container_in_path(head, *mutation.path_name)
        members = list(mutation.body_members or ())
        if mutation.body_label is not None:
            members.append(labelling.label_member(*mutation.body_label))
        if members:
            request = self.request
            if request is None or request.body is None or not self.request_done:
                raise RewriteError("the body was not read")
            assert self.head is not None
            body = body_with_members(request.body, members)
            head, raw = rewrite.with_body(head, self.head.framing, body)
            held = [raw]
        self.head_bytes, self.held_body = head, held
        self.mutated = mutation.added or "changed"

    def take_forwarded(self) -> list[bytes]:
        """The held head and body, to forward now (the exchange holds them no more)."""
        out = [self.head_bytes, *self.held_body]
        self.head_bytes, self.held_body = b"", []
        return out

    @property
    def session_target(self) -> str | None:
        """The exec id or container a session it opens is about."""
        return sessions.session_object(self.request) if self.request is not None else None

    @property
    def audit_level(self) -> str:
        """How much of it the record keeps: "none", "metadata" or "request"."""
        return self.decision.audit_level if self.decision is not None else "request"

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
