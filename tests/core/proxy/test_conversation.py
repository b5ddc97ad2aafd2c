"""The conversation state machine, driven with scripted byte conversations (no sockets)."""

from __future__ import annotations

import json

from sockspy.core.deciding.client import Client, PeerCred
from sockspy.core.deciding.decision import ALLOW, Decision
from sockspy.core.deciding.gate import AllowAll, DenyEndpoints, GateInForce
from sockspy.core.docker import summary
from sockspy.core.docker.sessions import outcome
from sockspy.core.proxy.conversation import Conversation
from sockspy.core.proxy.outbox import APART, EOF
from sockspy.core.proxy.states import RequestState, ResponseState

CLIENT = Client(front="unix:///run/sockspy.sock", peer=PeerCred(pid=42, uid=1000, gid=1000))

PING = b"GET /v1.41/_ping HTTP/1.1\r\nHost: api.moby.localhost\r\n\r\n"
PONG = b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOK"
CREATE_BODY = b'{"Image":"bb","Cmd":["true"]}'
CREATE = (
    b"POST /v1.41/containers/create HTTP/1.1\r\nHost: api.moby.localhost\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(CREATE_BODY)
) + CREATE_BODY
EXEC_BODY = b'{"Detach":false,"Tty":false}'
EXEC_START = (
    b"POST /v1.41/exec/abc123/start HTTP/1.1\r\nHost: api.moby.localhost\r\n"
    b"Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n" % len(EXEC_BODY)
) + EXEC_BODY
UPGRADED = (
    b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
    b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
)


def new(gate: object = None) -> Conversation:
    return Conversation(1, CLIENT, GateInForce(gate or AllowAll()), clock=lambda: 0.0)


def decide_all(conv: Conversation, decision: Decision = ALLOW) -> list[str]:
    """Answer every pending decision; return the endpoints that were asked about."""
    asked = []
    while conv.pending_decision is not None:
        asked.append(conv.pending_decision.endpoint)
        conv.decided(decision)
    return asked


def drain(outbox: object) -> bytes:
    items = list(outbox)  # type: ignore[call-overload]
    outbox.clear()  # type: ignore[attr-defined]
    return b"".join(i for i in items if isinstance(i, bytes))


def exchanges(conv: Conversation) -> list[dict[str, object]]:
    return [r for r in conv.records if r["event"] == "exchange"]


def test_keep_alive_requests_are_each_decided_forwarded_and_recorded() -> None:
    conv = new()
    for _ in range(3):
        conv.client_data(PING)
        assert decide_all(conv) == ["system.ping"]
        assert drain(conv.to_upstream) == PING
        conv.upstream_data(PONG)
        assert drain(conv.to_client) == PONG
    records = exchanges(conv)
    assert [r["request_no"] for r in records] == [1, 2, 3]
    assert records[0]["status"] == 200
    assert records[0]["endpoint"] == "system.ping"
    assert records[0]["api_version"] == "1.41"
    assert records[0]["peer_uid"] == 1000
    assert records[0]["response_body_bytes"] == 2


def test_a_would_deny_is_forwarded_and_its_record_says_why() -> None:
    conv = new()
    conv.client_data(PING)
    would = Decision(
        allowed=True, rule="no-ping", reason="pings are noisy", code="rule_denied",
        would_deny=True,
    )  # fmt: skip
    conv.decided(would)
    assert drain(conv.to_upstream) == PING
    conv.upstream_data(PONG)
    assert drain(conv.to_client) == PONG
    [record] = exchanges(conv)
    assert record["decision"] == "would_deny"
    assert (record["rule"], record["reason"], record["code"]) == (
        "no-ping", "pings are noisy", "rule_denied",
    )  # fmt: skip


def test_pipelined_request_is_not_forwarded_before_it_is_decided() -> None:
    conv = new()
    conv.client_data(PING + CREATE)
    assert conv.pending_decision is not None
    assert conv.pending_decision.endpoint == "system.ping"
    assert not conv.to_upstream  # not even the first one before its decision
    conv.decided(ALLOW)
    assert drain(conv.to_upstream) == PING  # the second head waits for its own decision
    assert conv.pending_decision is not None
    assert conv.pending_decision.endpoint == "container.create"
    conv.decided(ALLOW)
    assert drain(conv.to_upstream) == CREATE


def test_denial_of_a_pipelined_request_waits_for_the_earlier_response() -> None:
    conv = new(DenyEndpoints(["container.create"]))
    conv.client_data(PING + CREATE + PING)
    conv.decided(ALLOW)
    conv.decided(Decision(False, "deny-endpoint", "container.create is denied"))
    conv.decided(ALLOW)
    assert drain(conv.to_upstream) == PING + PING  # the denied request never left
    assert not conv.to_client  # the 403 may not overtake the first response
    conv.upstream_data(PONG)
    out = drain(conv.to_client)
    assert out.startswith(PONG + b"HTTP/1.1 403 Forbidden\r\n")
    body = out[len(PONG) :].split(b"\r\n\r\n", 1)[1]
    assert json.loads(body) == {
        "message": "sockspy: denied by rule deny-endpoint: container.create is denied"
    }
    conv.upstream_data(PONG)
    assert drain(conv.to_client) == PONG
    assert [r["decision"] for r in exchanges(conv)] == ["allow", "deny", "allow"]
    assert exchanges(conv)[1]["status"] == 403


def test_denied_request_body_is_discarded_and_the_connection_kept() -> None:
    conv = new()
    conv.client_data(CREATE[:-5])
    conv.decided(Decision(False, "r", "no"))
    conv.client_data(CREATE[-5:] + PING)
    assert drain(conv.to_client).startswith(b"HTTP/1.1 403")
    assert decide_all(conv) == ["system.ping"]
    assert drain(conv.to_upstream) == PING


def test_chunked_request_body_is_forwarded_verbatim_as_it_arrives() -> None:
    head = (
        b"POST /v1.41/images/load?quiet=1 HTTP/1.1\r\nHost: api.moby.localhost\r\n"
        b"Content-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    body = b"4\r\nabcd\r\n3;x=y\r\nefg\r\n0\r\n\r\n"
    conv = new()
    conv.client_data(head + body[:9])
    decide_all(conv)
    conv.client_data(body[9:] + PING)
    assert drain(conv.to_upstream) == head + body
    assert conv.pending_decision is not None  # the next request is parsed after the body


def test_bytes_sent_before_the_101_are_held_then_released() -> None:
    conv = new()
    conv.client_data(EXEC_START + b"early stdin")
    assert decide_all(conv) == ["exec.start"]
    assert drain(conv.to_upstream) == EXEC_START
    assert conv.client_paused
    conv.client_data(b" more")  # what the I/O layer read anyway stays held too
    assert not conv.to_upstream
    assert (conv.state, conv.response_state) == (RequestState.AWAIT_UPGRADE, ResponseState.HEAD)
    conv.upstream_data(UPGRADED + b"\x01\x00\x00\x00\x00\x00\x00\x03out")
    assert conv.tunnel
    assert (conv.state, conv.response_state) == (RequestState.TUNNEL, ResponseState.TUNNEL)
    assert drain(conv.to_client) == UPGRADED + b"\x01\x00\x00\x00\x00\x00\x00\x03out"
    assert drain(conv.to_upstream) == b"early stdin more"
    record = exchanges(conv)[0]
    assert record["upgraded"] is True and record["status"] == 101
    conv.tunnel_closed(client_to_daemon=100, daemon_to_client=200)
    session = conv.records[-1]
    assert session["event"] == "session_end"
    assert session["client_to_daemon_bytes"] == 116
    assert session["daemon_to_client_bytes"] == 211


def test_upgrade_that_the_daemon_ignores_resumes_parsing() -> None:
    conv = new()
    conv.client_data(EXEC_START + PING)
    decide_all(conv)
    drain(conv.to_upstream)
    assert conv.pending_decision is None  # the ping is held behind the upgrade request
    conv.upstream_data(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{")
    assert (conv.state, conv.response_state) == (RequestState.AWAIT_UPGRADE, ResponseState.BODY)
    conv.upstream_data(b"}")
    assert not conv.tunnel
    assert conv.response_state is ResponseState.HEAD
    assert decide_all(conv) == ["system.ping"]
    assert drain(conv.to_upstream) == PING


def test_attach_without_upgrade_is_refused_before_the_daemon_sees_it() -> None:
    conv = new()
    conv.client_data(
        b"POST /v1.41/containers/web/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert conv.pending_decision is None
    assert not conv.to_upstream
    out = drain(conv.to_client)
    assert out.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Upgrade" in out
    assert conv.finished
    assert exchanges(conv)[0]["decision"] == "reject"
    assert exchanges(conv)[0]["code"] == "hijack_without_upgrade"


def test_detached_exec_start_without_upgrade_is_allowed() -> None:
    body = b'{"Detach":true,"Tty":false}'
    request = (
        b"POST /v1.41/exec/abc/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    ) + body
    conv = new()
    conv.client_data(request)
    assert decide_all(conv) == ["exec.start"]
    assert drain(conv.to_upstream) == request


def test_exec_start_without_upgrade_is_judged_by_go_rules_for_duplicate_keys() -> None:
    body = b'{"Detach":true,"detach":false}'  # Go: the last key wins, so not detached
    request = (
        b"POST /v1.41/exec/abc/start HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
    ) + body
    conv = new()
    conv.client_data(request)
    assert not conv.to_upstream
    assert drain(conv.to_client).startswith(b"HTTP/1.1 400")


def test_malformed_request_gets_a_json_400_and_nothing_is_forwarded() -> None:
    conv = new()
    conv.client_data(
        b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"1\r\nx\r\n0\r\n\r\n"
    )
    assert not conv.to_upstream
    out = list(conv.to_client)
    assert out[0].startswith(b"HTTP/1.1 400")  # type: ignore[union-attr]
    assert b"Connection: close" in out[0]  # type: ignore[operator]
    assert out[-1] is EOF
    assert conv.finished
    assert exchanges(conv)[0]["code"] == "ambiguous_framing"


def test_an_http2_client_preface_is_refused_before_the_daemon_and_recorded() -> None:
    # h2c with prior knowledge (engine 29 serves it on unix sockets; newer buildx tries it
    # first): sockspy mediates HTTP/1.1 only, so the preface and the frames after it never
    # reach the daemon; the client reads an HTTP/1.1 505, the connection closes, and a
    # client that falls back opens a new connection with HTTP/1.1.
    settings = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # an empty SETTINGS frame
    conv = new()
    conv.client_data(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + settings)
    assert not conv.to_upstream
    out = list(conv.to_client)
    assert out[0].startswith(b"HTTP/1.1 505")  # type: ignore[union-attr]
    assert out[-1] is EOF and conv.finished
    record = exchanges(conv)[0]
    assert (record["code"], record["method"]) == ("unsupported_http_version", "PRI")


def test_non_canonical_and_absolute_targets_are_refused() -> None:
    for target in [
        b"/v1.41//containers/json",
        b"/v1.41/containers/../_ping",
        b"http://docker/v1.41/_ping",
        b"/_ping#x",
        b"/v1.41/%2e%2e/_ping",
        b"/%zz",
    ]:
        conv = new()
        conv.client_data(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert not conv.to_upstream, target
        assert drain(conv.to_client).startswith(b"HTTP/1.1 400"), target


def test_head_response_has_no_body_even_with_a_content_length() -> None:
    conv = new()
    conv.client_data(b"HEAD /_ping HTTP/1.1\r\nHost: x\r\n\r\n" + PING)
    decide_all(conv)
    conv.upstream_data(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
    decide_all(conv)
    conv.upstream_data(PONG)
    assert drain(conv.to_client) == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n" + PONG
    assert len(exchanges(conv)) == 2


def test_denial_of_a_head_request_has_no_body_so_the_next_response_reads_right() -> None:
    conv = new()
    head_request = b"HEAD /v1.41/containers/web/archive?path=/ HTTP/1.1\r\nHost: x\r\n\r\n"
    conv.client_data(head_request + PING)
    conv.decided(Decision(False, "r", "no"))
    conv.decided(ALLOW)
    conv.upstream_data(PONG)
    head, _, rest = drain(conv.to_client).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
    assert int(fields[b"Content-Length"]) > 0  # the length a GET would get, as for any HEAD
    assert rest == PONG  # and no body: the next bytes are the next response


def test_response_framed_by_close_ends_with_the_daemon_eof() -> None:
    conv = new()
    conv.client_data(PING)
    decide_all(conv)
    conv.upstream_data(b"HTTP/1.1 200 OK\r\n\r\nstream")
    conv.upstream_data(b" more")
    assert not exchanges(conv)
    conv.upstream_eof()
    assert drain(conv.to_client) == b"HTTP/1.1 200 OK\r\n\r\nstream more"
    assert exchanges(conv)[0]["response_body_bytes"] == 11
    assert conv.finished


def test_unreachable_daemon_gets_a_502_with_a_docker_style_message() -> None:
    conv = new()
    conv.client_data(PING)
    decide_all(conv)
    conv.upstream_unreachable("unix:///nope.sock", "No such file or directory")
    out = drain(conv.to_client)
    assert out.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    message = json.loads(out.split(b"\r\n\r\n", 1)[1])["message"]
    assert message == (
        "sockspy: cannot reach the Docker daemon at unix:///nope.sock: No such file or directory"
    )
    assert conv.finished


def test_client_half_close_is_passed_on_while_a_response_is_awaited() -> None:
    conv = new()
    conv.client_data(b"GET /v1.41/events HTTP/1.1\r\nHost: x\r\n\r\n")
    decide_all(conv)
    drain(conv.to_upstream)
    conv.client_eof()
    assert list(conv.to_upstream) == [EOF]
    assert not conv.finished
    conv.upstream_data(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert conv.finished


def test_every_allowed_byte_reaches_the_daemon_unchanged() -> None:
    stream = PING + CREATE + PING + CREATE
    conv = new()
    for i in range(0, len(stream), 7):  # arrive in awkward pieces
        conv.client_data(stream[i : i + 7])
        decide_all(conv)
    assert drain(conv.to_upstream) == stream


def test_connection_record_counts_requests_and_bytes() -> None:
    conv = new()
    conv.client_data(PING)
    decide_all(conv)
    conv.upstream_data(PONG)
    conv.client_eof()
    record = conv.connection_closed()
    assert record["event"] == "connection"
    assert record["requests"] == 1
    assert record["client_bytes"] == len(PING)
    assert record["daemon_bytes"] == len(PONG)
    assert record["close_reason"] == "client closed"
    assert conv.state is not RequestState.TUNNEL


def test_denied_request_that_asked_to_close_is_answered_then_closed() -> None:
    conv = new()
    conv.client_data(PING.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    conv.decided(Decision(False, "r", "no"))
    out = list(conv.to_client)
    assert out[-1] is EOF  # the client asked for close: it is not left waiting
    assert b"".join(i for i in out if isinstance(i, bytes)).startswith(b"HTTP/1.1 403")
    assert b"Connection: close\r\n" in out[0]  # type: ignore[operator]
    assert conv.finished and not conv.to_upstream


def test_denied_close_request_with_a_body_is_closed_only_after_the_body_is_read() -> None:
    conv = new()
    create = CREATE.replace(b"Host:", b"Connection: close\r\nHost:")
    conv.client_data(create[:-5])
    conv.decided(Decision(False, "r", "no"))
    assert EOF not in conv.to_client  # closing now could reset the unread body and the 403
    conv.client_data(create[-5:])
    assert list(conv.to_client)[-1] is EOF
    assert not conv.to_upstream


def test_denied_close_request_behind_a_forwarded_one_closes_after_that_response() -> None:
    conv = new()
    conv.client_data(PING + PING.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    conv.decided(ALLOW)
    conv.decided(Decision(False, "r", "no"))
    assert not conv.to_client
    conv.upstream_data(PONG)
    out = list(conv.to_client)
    assert out[-1] is EOF
    assert b"".join(i for i in out if isinstance(i, bytes)).startswith(PONG + b"HTTP/1.1 403")


def test_stream_bytes_that_came_with_the_101_leave_apart_from_its_head() -> None:
    # Clients read a 101's head through a buffered reader and the stream from the raw
    # socket (docker-py's attach): bytes joined to the head in one send are lost to them.
    conv = new()
    conv.client_data(EXEC_START)
    decide_all(conv)
    drain(conv.to_upstream)
    conv.upstream_data(UPGRADED + b"\x01\x00\x00\x00\x00\x00\x00\x06hello\n")
    assert list(conv.to_client) == [UPGRADED, APART, b"\x01\x00\x00\x00\x00\x00\x00\x06hello\n"]


def test_a_followed_log_is_a_session_from_its_head_to_its_end() -> None:
    conv = new()
    follow = b"GET /v1.41/containers/web/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: x\r\n\r\n"
    conv.client_data(follow)
    decide_all(conv)
    conv.upstream_data(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    [start] = [r for r in conv.records if r["event"] == "session_start"]
    assert (start["endpoint"], start["kind"], start["object"]) == (
        "container.logs", "stream", "web",
    )  # fmt: skip
    assert not [r for r in conv.records if r["event"] in ("session_end", "exchange")]
    conv.upstream_data(b"0\r\n\r\n")
    events = [r["event"] for r in conv.records]
    assert events[-2:] == ["session_end", "exchange"]
    end = conv.records[-2]
    assert end["daemon_to_client_bytes"] == 5 and end["request_no"] == start["request_no"]


def test_logs_without_follow_and_stats_with_stream_0_are_no_sessions() -> None:
    conv = new()
    for target in ("/v1.41/containers/web/logs?stdout=1", "/v1.41/containers/web/stats?stream=0"):
        conv.client_data(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        decide_all(conv)
        conv.upstream_data(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    assert [r["event"] for r in conv.records] == ["exchange", "exchange"]


def test_a_hijacked_session_ends_with_what_the_daemon_says_of_it() -> None:
    conv = new()
    conv.client_data(EXEC_START)
    decide_all(conv)
    conv.upstream_data(UPGRADED)
    [start] = [r for r in conv.records if r["event"] == "session_start"]
    assert start["kind"] == "hijack" and conv.tunnel_target == ("exec.start", start["object"])
    # dockerd 20.10's GET /exec/{id}/json after `docker exec web sh -c 'exit 3'` ended.
    answer = {
        "ID": start["object"], "Running": False, "ExitCode": 3, "Pid": 4242,
        "ContainerID": "9a53" + "0" * 60,
        "ProcessConfig": {"tty": False, "entrypoint": "sh", "arguments": ["-c", "exit 3"],
                          "privileged": False, "user": ""},
    }  # fmt: skip
    conv.tunnel_closed(10, 20, outcome("exec.start", answer))
    end = conv.records[-1]
    assert end["event"] == "session_end"
    assert (end["exec_command"], end["exit_code"], end["running"]) == (
        ["sh", "-c", "exit 3"], 3, False,
    )  # fmt: skip
    assert end["container_id"] == answer["ContainerID"]


def test_a_denied_creates_discarded_body_is_kept_only_up_to_the_summary_cap() -> None:
    """A create denied by its route is answered at once and its body discarded as it
    comes; sockspy keeps no more of it than a summary would read, however long it is."""
    conv = new(DenyEndpoints(["container.create"]))
    size = summary.BODY_CAP * 4
    head = (
        b"POST /v1.41/containers/create HTTP/1.1\r\nHost: api.moby.localhost\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % size
    )
    conv.client_data(head)
    decide_all(conv, Decision(allowed=False, rule="deny-endpoint", reason="no creates"))
    assert b" 403 " in drain(conv.to_client).split(b"\r\n", 1)[0]
    for _ in range(4):
        conv.client_data(b" " * summary.BODY_CAP)
        kept = conv._client.kept
        assert kept is None or len(kept) <= summary.BODY_CAP
    conv.client_data(PING)
    assert decide_all(conv) == ["system.ping"]  # the body ended where its length said
    assert drain(conv.to_upstream) == PING
    (record,) = exchanges(conv)
    assert record["request_body_bytes"] == size


def test_a_denial_queued_behind_a_broken_response_is_still_recorded() -> None:
    """The daemon's answer to a forwarded request breaks HTTP; the denial queued behind
    it is never sent, but it was decided, so it has its record like the broken one."""
    conv = new()
    conv.client_data(PING + PING)
    conv.decided(ALLOW)
    conv.decided(Decision(allowed=False, rule="no-ping", reason="not twice"))
    conv.upstream_data(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nOK")
    assert conv.finished
    records = exchanges(conv) + [r for r in [conv.connection_closed()] if r]
    outcomes = [(r.get("request_no"), r.get("decision")) for r in records]
    assert outcomes[:2] == [(1, "allow"), (2, "deny")]
