"""The two sides of a conversation, as states and the table of their allowed moves.

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

Every move goes through `move`, which checks it against the table: a move not in it is a
bug, and raises `IllegalTransition` rather than let the two sides disagree silently.
"""

from __future__ import annotations

import enum
from typing import TypeVar

from sockspy.core.proxy.exchange import IllegalTransition


class RequestState(enum.Enum):
    HEAD = "head"
    BUFFER_BODY = "buffer_body"
    DECIDING = "deciding"
    FORWARD_BODY = "forward_body"
    DISCARD_BODY = "discard_body"
    AWAIT_UPGRADE = "await_upgrade"
    TUNNEL = "tunnel"
    NO_MORE_REQUESTS = "no_more_requests"


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
