"""The conversation's state tables: each side moves only as its table says, and each
exchange's phase reaches its record whichever of its request and response ends first."""

from __future__ import annotations

import pytest

from sockspy.core.proxy.exchange import Exchange
from sockspy.core.proxy.states import (
    REQUEST_MOVES,
    RESPONSE_MOVES,
    IllegalTransition,
    Phase,
    RequestState,
    ResponseState,
    move,
)


def test_a_move_the_table_does_not_have_raises() -> None:
    with pytest.raises(IllegalTransition, match="HEAD -> TUNNEL"):
        move(RequestState.HEAD, RequestState.TUNNEL, REQUEST_MOVES)
    with pytest.raises(IllegalTransition, match="BODY -> TUNNEL"):
        move(ResponseState.BODY, ResponseState.TUNNEL, RESPONSE_MOVES)
    assert move(RequestState.HEAD, RequestState.HEAD, REQUEST_MOVES) is RequestState.HEAD


def test_every_reading_state_may_stop_reading_and_a_tunnel_is_the_end() -> None:
    for state in RequestState:
        stops = RequestState.NO_MORE_REQUESTS in REQUEST_MOVES[state]
        assert stops is (state not in (RequestState.TUNNEL, RequestState.NO_MORE_REQUESTS))
    assert REQUEST_MOVES[RequestState.TUNNEL] == frozenset()
    assert REQUEST_MOVES[RequestState.NO_MORE_REQUESTS] == {RequestState.TUNNEL}
    assert RESPONSE_MOVES[ResponseState.TUNNEL] == frozenset()


def test_an_exchange_is_complete_whichever_side_ends_first() -> None:
    for order in (("request_read", "response_read"), ("response_read", "request_read")):
        exchange = Exchange(number=1, started=0.0)
        for event in order:
            assert exchange.phase is not Phase.COMPLETE
            exchange.advance(event)
        assert exchange.phase is Phase.COMPLETE
        assert exchange.request_done and exchange.response_done
        exchange.advance("recorded")
        assert exchange.phase is Phase.RECORDED


def test_an_exchange_is_recorded_once_and_only_when_complete() -> None:
    exchange = Exchange(number=7, started=0.0)
    with pytest.raises(IllegalTransition, match="recorded in phase REQUEST"):
        exchange.advance("recorded")
    exchange.advance("ended")  # the connection broke mid-request
    exchange.advance("recorded")
    for event in ("request_read", "response_read", "ended", "recorded"):
        with pytest.raises(IllegalTransition):
            exchange.advance(event)


def test_an_early_answer_waits_for_its_request_to_end() -> None:
    exchange = Exchange(number=1, started=0.0)
    exchange.advance("response_read")  # the daemon answered while the body was forwarded
    assert (exchange.phase, exchange.request_done, exchange.response_done) == (
        Phase.ANSWERED, False, True,
    )  # fmt: skip
