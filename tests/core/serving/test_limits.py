"""Operating limits in the core: connection counts, token buckets, the reloadable gate,
the head timeout and the head size cap (no sockets)."""

from __future__ import annotations

import json

from sockspy.core.deciding.client import Client, PeerCred, client_key
from sockspy.core.deciding.decision import ALLOW
from sockspy.core.deciding.gate import AllowAll, DenyEndpoints, GateInForce
from sockspy.core.deciding.judgement import NO_FACTS, decide_offline
from sockspy.core.proxy.conversation import Conversation
from sockspy.core.proxy.states import RequestState
from sockspy.core.serving.limits import (
    FDS_PER_CONNECTION,
    ConnectionLimits,
    RateLimitedGate,
    RateLimiter,
    default_connection_limits,
    default_refusals,
)

UNIX = Client(front="unix:///s.sock", peer=PeerCred(pid=42, uid=1000, gid=1000))
TCP = Client(front="tcp://127.0.0.1:2375", ip="192.0.2.7", port=50000)
PING = b"GET /v1.41/_ping HTTP/1.1\r\nHost: x\r\n\r\n"
CREATE_BODY = b'{"Image":"bb"}'
CREATE = (
    b"POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n" % len(CREATE_BODY)
) + CREATE_BODY


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_client_is_its_uid_on_unix_and_its_address_on_tcp() -> None:
    assert client_key(UNIX) == "uid:1000"
    assert client_key(TCP) == "ip:192.0.2.7"
    assert client_key(Client(front="fd://3")) == "front:fd://3"


def test_a_client_certificate_is_the_key_whatever_the_address() -> None:
    alice = Client(front="tcp://0.0.0.0:2376", ip="192.0.2.7", tls_cn="alice", tls_names=("alice",))
    assert client_key(alice) == "tls:alice"
    no_cn = Client(front="tcp://0.0.0.0:2376", ip="192.0.2.7", tls_names=("ci.example",))
    assert client_key(no_cn) == "tls:ci.example"


def test_connections_over_the_total_get_503_and_over_a_client_share_429() -> None:
    limits = ConnectionLimits(total=3, per_client=2)
    assert limits.admit("uid:1") is None
    assert limits.admit("uid:1") is None
    refusal = limits.admit("uid:1")
    assert refusal is not None and (refusal.status, refusal.code) == (
        429,
        "too_many_client_connections",
    )
    assert limits.admit("uid:2") is None
    refusal = limits.admit("uid:3")
    assert refusal is not None and (refusal.status, refusal.code) == (503, "too_many_connections")
    limits.release("uid:1")
    assert limits.admit("uid:3") is None
    assert limits.open == 3 and limits.by_client == {"uid:1": 1, "uid:2": 1, "uid:3": 1}


def test_released_clients_leave_no_entry_behind() -> None:
    limits = ConnectionLimits(per_client=1)
    assert limits.admit("ip:a") is None
    limits.release("ip:a")
    assert limits.by_client == {} and limits.open == 0


def test_a_token_bucket_allows_its_burst_then_its_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2, burst=3, clock=clock)
    assert [limiter.allow("k") for _ in range(4)] == [True, True, True, False]
    clock.now += 0.5  # one token back
    assert [limiter.allow("k") for _ in range(2)] == [True, False]
    assert limiter.allow("other")  # every client has its own bucket
    assert limiter.limited == 2


def test_full_buckets_of_idle_clients_are_forgotten() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=10, clock=clock, max_clients=2)
    limiter.allow("a")
    limiter.allow("b")
    clock.now += 10
    limiter.allow("c")
    assert set(limiter.buckets) == {"c"}


def test_a_request_over_the_rate_is_denied_with_429_whatever_the_policy() -> None:
    clock = Clock()
    gate = RateLimitedGate(AllowAll(), RateLimiter(rate=1, clock=clock))
    conv = Conversation(1, UNIX, GateInForce(gate), clock=clock)
    conv.client_data(PING)
    assert conv.pending_decision is not None
    assert decide_offline(gate, conv.pending_decision, UNIX, NO_FACTS).allowed
    decision = decide_offline(gate, conv.pending_decision, UNIX, NO_FACTS)
    assert (decision.allowed, decision.status, decision.code) == (False, 429, "rate_limited")
    assert decision.reason is not None and "uid:1000" in decision.reason


def test_each_request_is_judged_by_the_gate_in_force_when_its_head_was_read() -> None:
    holder = GateInForce(AllowAll())
    conv = Conversation(1, UNIX, holder, clock=lambda: 0.0)
    conv.client_data(PING)
    assert isinstance(conv.gate, AllowAll)
    holder.current = DenyEndpoints(["system.ping"])  # a reload while a request is decided
    assert isinstance(conv.gate, AllowAll)  # that request keeps its gate
    conv.decided(ALLOW)
    conv.upstream_data(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
    conv.client_data(PING)  # the next request on the same keep-alive connection
    assert isinstance(conv.gate, DenyEndpoints)


def test_a_request_whose_body_is_buffered_keeps_the_gate_that_asked_for_it() -> None:
    class WantsBody(AllowAll):
        def wants_body(self, request: object, client: object) -> bool:
            return True

    holder = GateInForce(WantsBody())
    conv = Conversation(1, UNIX, holder, clock=lambda: 0.0)
    conv.client_data(CREATE[:-4])
    holder.current = AllowAll()  # reloaded while the body is read
    conv.client_data(CREATE[-4:])
    assert isinstance(conv.gate, WantsBody)
    assert conv.pending_decision is not None and conv.pending_decision.body == CREATE_BODY


def test_a_partial_head_starts_the_head_clock_and_a_complete_one_stops_it() -> None:
    clock = Clock()
    conv = Conversation(1, UNIX, GateInForce(AllowAll()), clock=clock)
    assert conv.head_started is None  # idle: nothing pending, nothing timed
    conv.client_data(b"GET /v1.41/_ping HT")
    assert conv.head_started == 100.0
    clock.now = 101.0
    conv.client_data(b"TP/1.1\r\n")
    assert conv.head_started == 100.0  # from the first byte, not the last
    conv.client_data(b"Host: x\r\n\r\n")
    assert conv.head_started is None


def test_a_head_timeout_answers_408_as_json_and_closes() -> None:
    conv = Conversation(1, UNIX, GateInForce(AllowAll()), clock=lambda: 0.0)
    conv.client_data(b"GET /v1.41/_ping HTTP/1.1\r\nHo")
    conv.head_timed_out(30)
    response = b"".join(i for i in conv.to_client if isinstance(i, bytes))
    assert response.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"Connection: close" in response
    body = json.loads(response.split(b"\r\n\r\n", 1)[1])
    assert body == {"message": "sockspy: request head not complete after 30 s"}
    assert conv.finished and conv.state is RequestState.NO_MORE_REQUESTS
    record = next(r for r in conv.records if r["event"] == "exchange")
    assert (record["status"], record["code"], record["decision"]) == (408, "head_timeout", "reject")


def test_a_head_timeout_on_an_idle_connection_does_nothing() -> None:
    conv = Conversation(1, UNIX, GateInForce(AllowAll()), clock=lambda: 0.0)
    conv.head_timed_out(30)
    assert not conv.finished and not conv.to_client


def test_the_head_size_cap_is_configurable() -> None:
    conv = Conversation(1, UNIX, GateInForce(AllowAll()), clock=lambda: 0.0, max_head_bytes=64)
    conv.client_data(b"GET /v1.41/_ping HTTP/1.1\r\nX-Pad: " + b"a" * 64 + b"\r\n\r\n")
    response = b"".join(i for i in conv.to_client if isinstance(i, bytes))
    assert response.startswith(b"HTTP/1.1 431 ")
    assert b"request head larger than 64 bytes" in response
    small = Conversation(1, UNIX, GateInForce(AllowAll()), clock=lambda: 0.0, max_head_bytes=64)
    small.client_data(PING)
    assert small.pending_decision is not None


def test_tls_handshakes_count_against_the_total_until_the_client_is_known() -> None:
    limits = ConnectionLimits(total=2, per_client=1)
    assert limits.begin_handshake() is None
    assert limits.begin_handshake() is None
    refusal = limits.begin_handshake()  # two handshakes that never finish fill the total
    assert refusal is not None and refusal.status == 503
    assert "2 open, at most 2" in refusal.reason
    limits.end_handshake()  # the first one's certificate is known now: counted per client
    assert limits.admit("tls:alice") is None
    assert limits.open == 1 and limits.handshaking == 1
    assert limits.admit("tls:bob") is not None  # alice and the pending handshake: full


def test_default_limits_keep_a_reserve_of_descriptors_and_give_a_client_a_quarter() -> None:
    for open_files in (64, 128, 1024, 20_000, 524_288, 1_048_576):
        total, per_client = default_connection_limits(open_files)
        refusals = default_refusals(open_files)
        # Every connection at three descriptors stays under it, with a reserve (log files,
        # look-ups) of which the refusals answered at once take at most half.
        assert total * FDS_PER_CONNECTION + 2 * refusals <= open_files
        assert per_client == max(2, total // 4)
    assert default_connection_limits(524_288) == (163_829, 40_957)  # systemd's hard limit
    assert default_connection_limits(1024) == (309, 77)


def test_refusals_past_their_cap_are_to_be_closed_unanswered() -> None:
    limits = ConnectionLimits(total=1, refusals=2)
    assert limits.begin_refusal() and limits.begin_refusal()
    assert not limits.begin_refusal()
    limits.end_refusal()
    assert limits.begin_refusal()
    assert ConnectionLimits().begin_refusal()  # no cap given: any number
