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
- `RedactEach` (a redacted list answer): each item of the JSON array is rewritten as it
  arrives and leaves in a chunk of its own, so a list is bounded by its largest item,
  not its length: one client's many large objects cannot make everyone's list fail.
  Once a chunk has left, a failure cuts the connection (the client sees a broken body,
  never an unredacted byte).

- `RedactLines` (the events stream of a redacting client): each event, a JSON object on
  a line of its own, is rewritten as soon as its line is complete and leaves in a chunk
  of its own; the head leaves at once, so the stream is never held back.

Every byte held for a rewrite counts against one `HeldBytes` budget of the process: an
answer that would pass it is withheld (503), so concurrent held answers are bounded in
total, not only one by one.

A new way for a response to leave ("record a build's output", "redact labels too") is
a new plan here, not a flag on the exchange and a branch in three conversation methods.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Protocol

from sockspy.core.deciding.decision import Decision
from sockspy.core.docker import redaction
from sockspy.core.docker.jsonarray import ArrayItems, NotAnArray
from sockspy.core.docker.request import Request
from sockspy.core.wire import rewrite


class Withheld(Exception):
    """The answer must not reach the client as the daemon sent it, and cannot be changed:
    the conversation sends `status` instead (`reason` says why), or cuts the connection
    if part of the rewritten answer has left already."""

    def __init__(self, reason: str, status: int = 502) -> None:
        super().__init__(reason)
        self.status = status


HELD_BYTES_LIMIT = 256 * 1024 * 1024


class _Held:
    """One plan's held bytes, as the budget sees them (a bytearray takes no weak ref),
    and whose they are (`client_key`)."""

    __slots__ = ("__weakref__", "buf", "key")

    def __init__(self, key: str = "") -> None:
        self.buf: bytearray | bytes = b""
        self.key = key


class HeldBytes:
    """The bytes every plan of the process holds for a rewrite, against one limit, of
    which one client may hold a quarter: a client's many large answers cannot take the
    others' share. A plan that is dropped (its connection closed, however) stops
    counting by itself: the budget only holds weak references."""

    SHARE = 4

    def __init__(self, limit: int = HELD_BYTES_LIMIT) -> None:
        self.limit = limit
        self.holder: weakref.WeakSet[_Held] = weakref.WeakSet()

    @property
    def total(self) -> int:
        return sum(len(held.buf) for held in self.holder)

    def held_by(self, key: str) -> int:
        return sum(len(held.buf) for held in self.holder if held.key == key)

    def hold(self, held: _Held, buf: bytearray) -> None:
        """`held` now holds `buf`; Withheld (503) if that passes the limit, or its
        client's share of it."""
        held.buf = buf
        self.holder.add(held)
        total, mine, share = self.total, self.held_by(held.key), self.limit // self.SHARE
        if total > self.limit:
            why = f"{total} bytes of answers to rewrite, over {self.limit}"
        elif mine > share:
            why = f"{mine} bytes of {held.key or 'this client'}'s answers, over {share}"
        else:
            return
        held.buf = b""
        raise Withheld(f"sockspy holds {why}: try again", 503)

    def release(self, held: _Held) -> None:
        held.buf = b""
        self.holder.discard(held)


BUDGET = HeldBytes()  # the process's; a server may pass its own


class ResponsePlan(Protocol):
    """What to send of one response; `holds` asks the conversation to collect its body."""

    @property
    def holds(self) -> bool: ...

    @property
    def removed(self) -> tuple[str, ...]:
        """What the plan took out of the answer, for the record (set by `end`)."""
        ...

    @property
    def started(self) -> bool:
        """Has a byte of the (rewritten) answer left? Then it can only be cut."""
        ...

    def head(self, head: bytes) -> list[bytes]: ...

    def chunk(self, raw: bytes, kept: bytearray | None) -> list[bytes]:
        """A piece of the body as framed on the wire; `kept`: the body collected so far,
        when `holds` (a plan may consume it from the front)."""
        ...

    def end(self, body: bytes) -> list[bytes]:
        """The body has ended (`body`: de-chunked, when `holds`)."""
        ...


class Relay:
    """Every byte as it comes (the default)."""

    holds: Final = False
    removed: Final[tuple[str, ...]] = ()
    started: Final = True

    def head(self, head: bytes) -> list[bytes]:
        return [head]

    def chunk(self, raw: bytes, kept: bytearray | None) -> list[bytes]:
        return [raw]

    def end(self, body: bytes) -> list[bytes]:
        return []


RELAY: Final = Relay()


@dataclass(slots=True, kw_only=True)
class _Rewriting:
    """What every plan that rewrites an answer shares: what it removes, and the budget
    its held bytes count against (and whose they are)."""

    what: tuple[str, ...]  # what the rewrite removes, for the record
    budget: HeldBytes = field(default_factory=lambda: BUDGET)
    holder: _Held = field(default_factory=_Held)
    removed: tuple[str, ...] = ()  # `what`, once the answer has ended rewritten
    _live: bytearray | None = None  # the body as the reader collects it (see `_body`)

    @property
    def holds(self) -> bool:
        return True

    def _held(self, kept: bytearray | None) -> bytearray:
        """The live body of a piece, counted against the budget."""
        assert kept is not None
        self._live = kept
        self.budget.hold(self.holder, kept)
        return kept

    def _body(self, body: bytes) -> bytearray:
        """What is left of the body at its end. `body` is a copy made before the last
        piece was handled: a plan that consumes the live buffer reads that instead."""
        self.budget.release(self.holder)
        return self._live if self._live is not None else bytearray(body)


def _rewritten(rewrite_: Callable[[bytes], bytes], data: bytes) -> bytes:
    """`rewrite_(data)`, or Withheld: on any failure, never the original bytes."""
    try:
        return rewrite_(data)
    except Exception as exc:
        raise Withheld(str(exc) or type(exc).__name__) from exc


@dataclass(slots=True)
class HoldWhole(_Rewriting):
    """Held whole, rewritten, re-framed with a Content-Length (redaction)."""

    rewrite: Callable[[bytes], bytes]
    limit: int
    started: bool = False  # nothing leaves before `end`
    _head: bytes = b""

    def head(self, head: bytes) -> list[bytes]:
        self._head = head
        return []

    def chunk(self, raw: bytes, kept: bytearray | None) -> list[bytes]:
        if kept is not None and len(kept) > self.limit:
            raise Withheld(f"the answer is over {self.limit} bytes")
        self._held(kept)
        return []

    def end(self, body: bytes) -> list[bytes]:
        self.budget.release(self.holder)
        new = _rewritten(self.rewrite, body)  # the whole body: nothing was consumed
        head = _rewritten(lambda data: rewrite.response_with_body(self._head, data), new)
        self.removed = self.what
        return [head, new]


@dataclass(slots=True)
class RedactEach(_Rewriting):
    """A list answer redacted item by item as it streams, re-framed chunked."""

    rewrite_item: Callable[[bytes], bytes]
    item_cap: int
    started: bool = False  # a byte of the rewritten answer has left
    _head: bytes = b""
    _items: ArrayItems = field(init=False)
    _count: int = 0

    def __post_init__(self) -> None:
        self._items = ArrayItems(self.item_cap)

    def head(self, head: bytes) -> list[bytes]:
        self._head = head
        return []

    def chunk(self, raw: bytes, kept: bytearray | None) -> list[bytes]:
        return self._take(self._held(kept))

    def end(self, body: bytes) -> list[bytes]:
        out = self._take(self._body(body))
        if not self._items.closed:
            raise Withheld("the answer ends inside its list")
        tail = (b"[" if not self._count else b"") + b"]"
        self.removed = self.what
        return [*out, rewrite.chunk(tail), rewrite.chunk(b"")]

    def _take(self, kept: bytearray) -> list[bytes]:
        try:
            items = self._items.take(kept)
        except NotAnArray as exc:
            raise Withheld(str(exc)) from exc
        parts = []
        for item in items:
            rewritten = _rewritten(self.rewrite_item, item)
            if rewritten:  # an empty item is left out (a tenant's image list)
                parts.append((b"," if self._count else b"[") + rewritten)
                self._count += 1
        out = []
        if self._items.opened and not self.started:
            out.append(rewrite.response_chunked(self._head))
            self.started = True
        if parts:
            out.append(rewrite.chunk(b"".join(parts)))
        return out


@dataclass(slots=True)
class RedactLines(_Rewriting):
    """A stream of JSON lines rewritten a line at a time, re-framed chunked."""

    rewrite_line: Callable[[bytes], bytes]
    line_cap: int
    started: bool = True  # the head leaves at once

    def head(self, head: bytes) -> list[bytes]:
        return [rewrite.response_chunked(head)]

    def chunk(self, raw: bytes, kept: bytearray | None) -> list[bytes]:
        return self._take(self._held(kept))

    def end(self, body: bytes) -> list[bytes]:
        buf = self._body(body)
        out = self._take(buf)
        if buf.strip():  # a last event without its newline
            out.append(rewrite.chunk(_rewritten(self.rewrite_line, bytes(buf))))
        self.removed = self.what
        return [*out, rewrite.chunk(b"")]

    def _take(self, kept: bytearray) -> list[bytes]:
        end = kept.rfind(b"\n") + 1
        if not end:
            if len(kept) > self.line_cap:
                raise Withheld(f"an event of the stream is over {self.line_cap} bytes")
            return []
        lines = bytes(kept[:end]).splitlines(keepends=True)
        del kept[:end]
        return [rewrite.chunk(b"".join(_rewritten(self.rewrite_line, line) for line in lines))]


def plan(
    decision: Decision | None,
    request: Request | None,
    status: int,
    budget: HeldBytes | None = None,
    client: str = "",
) -> ResponsePlan:
    """How the response to `request` with this `status` leaves (`budget`: the process's
    `BUDGET` unless given; `client`: whose share of it a held answer counts against)."""
    budget = budget if budget is not None else BUDGET
    if (
        status == 200
        and decision is not None
        and decision.redact
        and request is not None
        and request.endpoint in redaction.ENDPOINTS
    ):
        endpoint, fields = request.endpoint, decision.redact
        cap, holder = redaction.MAX_REDACTED_BODY, _Held(client)
        if endpoint == redaction.EVENTS:
            return RedactLines(
                rewrite_line=lambda line: redaction.redact_event(line, fields),
                line_cap=cap,
                what=fields,
                budget=budget,
                holder=holder,
            )
        if endpoint in redaction.STREAMED and request.head.http_version == "1.1":
            return RedactEach(
                rewrite_item=lambda item: redaction.redact_item(endpoint, item, fields),
                item_cap=cap,
                what=fields,
                budget=budget,
                holder=holder,
            )
        return HoldWhole(
            rewrite=lambda body: redaction.redact(endpoint, body, fields),
            limit=cap,
            what=fields,
            budget=budget,
            holder=holder,
        )
    return RELAY
