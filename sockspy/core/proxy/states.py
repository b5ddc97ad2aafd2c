"""Every state machine of a conversation, and the tables of their moves (h11's Rule 1).

There are three: the request side and the response side of the connection, and the
phase of each exchange on it. Each is an enum and a table; every move goes through the
table, and a move not in it is a bug that raises `IllegalTransition` rather than let two
sides disagree silently (the pump's error boundary closes that connection, with its
records).

The request side (client -> daemon) reads one request at a time:

    HEAD ──> [BUFFER_BODY] ──> DECIDING ──allow──> FORWARD_BODY ──> HEAD
                                   │                     └─(Upgrade)─> AWAIT_UPGRADE ──101──> TUNNEL
                                   └────deny───> DISCARD_BODY ──> HEAD

and ends in `NO_MORE_REQUESTS` when nothing more of the client is read: after a request
sockspy refused, one that asked to close, the client's half-close, or an unreachable
daemon. The responses still owed are relayed; a `101` owed there still opens a tunnel.

The response side (daemon -> client) reads the response heads and bodies in request
order: `HEAD` (waiting for the next head) and `BODY` (relaying one body), until a `101`
makes both sides a `TUNNEL` of raw bytes.

An exchange (`sockspy.core.proxy.exchange.Exchange`) is in one `Phase`. Its request and
its response end independently (a daemon may answer before a forwarded body has ended),
so there are two ways to `COMPLETE`:

    REQUEST ──request_read──> RESPONSE ──response_read──> COMPLETE ──recorded──> RECORDED
       └─────response_read──> ANSWERED ──request_read───────┘

`ended` takes any phase before `RECORDED` to `COMPLETE` at once: the connection broke,
or sockspy refused the rest, and nothing more of this exchange will come.
"""

from __future__ import annotations

import enum
from typing import TypeVar


class IllegalTransition(RuntimeError):
    """A state machine of the conversation was asked for a move its table does not have."""


class RequestState(enum.Enum):
    HEAD = "head"
    BUFFER_BODY = "buffer_body"
    DECIDING = "deciding"
    FORWARD_BODY = "forward_body"
    DISCARD_BODY = "discard_body"
    AWAIT_UPGRADE = "await_upgrade"
    TUNNEL = "tunnel"
    NO_MORE_REQUESTS = "no_more_requests"


# The request states in which the client's bytes are a request body.
READING_BODY = frozenset(
    {RequestState.BUFFER_BODY, RequestState.FORWARD_BODY, RequestState.DISCARD_BODY}
)


class ResponseState(enum.Enum):
    HEAD = "head"
    BODY = "body"
    TUNNEL = "tunnel"


_R = RequestState
REQUEST_MOVES: dict[RequestState, frozenset[RequestState]] = {
    _R.HEAD: frozenset({_R.BUFFER_BODY, _R.DECIDING}),
    _R.BUFFER_BODY: frozenset({_R.DECIDING}),
    _R.DECIDING: frozenset({_R.FORWARD_BODY, _R.DISCARD_BODY, _R.HEAD, _R.AWAIT_UPGRADE}),
    _R.FORWARD_BODY: frozenset({_R.HEAD, _R.AWAIT_UPGRADE, _R.TUNNEL}),
    _R.DISCARD_BODY: frozenset({_R.HEAD}),
    _R.AWAIT_UPGRADE: frozenset({_R.HEAD, _R.TUNNEL}),
    _R.TUNNEL: frozenset(),
    _R.NO_MORE_REQUESTS: frozenset({_R.TUNNEL}),  # a 101 still owed
}
# Any side that still reads requests may stop reading them.
for _state in set(RequestState) - {_R.TUNNEL, _R.NO_MORE_REQUESTS}:
    REQUEST_MOVES[_state] |= {_R.NO_MORE_REQUESTS}

_S = ResponseState
RESPONSE_MOVES: dict[ResponseState, frozenset[ResponseState]] = {
    _S.HEAD: frozenset({_S.BODY, _S.TUNNEL}),
    _S.BODY: frozenset({_S.HEAD}),
    _S.TUNNEL: frozenset(),
}

State = TypeVar("State", RequestState, ResponseState)


def move(current: State, new: State, moves: dict[State, frozenset[State]]) -> State:
    """`new`, if the table allows the move from `current` (staying put is always allowed)."""
    if new is not current and new not in moves[current]:
        raise IllegalTransition(f"{type(current).__name__}: {current.name} -> {new.name}")
    return new


class Phase(enum.Enum):
    REQUEST = "request"  # its request is being read, decided or forwarded
    RESPONSE = "response"  # its request has ended; its response is owed or under way
    ANSWERED = "answered"  # its response has ended before its request did
    COMPLETE = "complete"  # both have ended: its record is due
    RECORDED = "recorded"


PHASE_MOVES: dict[tuple[Phase, str], Phase] = {
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


def next_phase(phase: Phase, event: str, number: int = 0) -> Phase:
    """The phase `event` leads to from `phase` (of exchange `number`, for the error)."""
    after = PHASE_MOVES.get((phase, event))
    if after is None:
        raise IllegalTransition(f"exchange {number}: {event} in phase {phase.name}")
    return after
