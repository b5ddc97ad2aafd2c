"""A record is a side product: whatever raises on the record path, the client gets exactly
the daemon's bytes, the daemon exactly the client's, and the connection stays usable.

Fault injection: each function on the record path (the record builders, the summary,
the decision inputs, the lineage's reads and writes, the object helpers, the client's
fields) raises in turn, while one keep-alive connection creates, inspects, streams the
logs of, execs into and deletes a container. Each fault yields an `internal_error` record
that names the exchange (or the step) it cost.
"""

from __future__ import annotations

import json

import pytest
from core.proxy.test_audit_lineage import response

from sockspy.core.deciding.client import Client, PeerCred
from sockspy.core.deciding.decision import ALLOW, Decision
from sockspy.core.deciding.gate import AllowAll, GateInForce
from sockspy.core.proxy.conversation import Conversation
from sockspy.core.proxy.lineage import Lineage

CLIENT = Client(front="unix:///run/sockspy.sock", peer=PeerCred(pid=42, uid=1000, gid=1000))
CONTAINER = "c0ffee" * 10 + "c0ff"
EXEC = "e7ec" * 16


def request(method: str, target: str, body: bytes | None = None, upgrade: bool = False) -> bytes:
    head = f"{method} /v1.41{target} HTTP/1.1\r\nHost: api.moby.localhost\r\n"
    if upgrade:
        head += "Connection: Upgrade\r\nUpgrade: tcp\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + (body or b"")


CREATE_BODY = json.dumps({"Image": "busybox", "Cmd": ["true"], "Env": ["A=secret"]}).encode()
EXEC_BODY = json.dumps({"Cmd": ["sh"], "AttachStdout": True}).encode()
# One keep-alive connection's life: (request, the daemon's answer).
SCRIPT = [
    (
        request("POST", "/containers/create?name=web", CREATE_BODY),
        response(201, b'{"Id":"%s"}' % CONTAINER.encode()),
    ),
    (
        request("GET", "/containers/web/json"),
        response(200, b'{"Id":"%s","Name":"/web"}' % CONTAINER.encode()),
    ),
    (
        request("GET", "/containers/web/logs?follow=1&stdout=1"),
        response(200, b"line one\n", chunked=True),
    ),
    (
        request("POST", "/containers/web/exec", EXEC_BODY),
        response(201, b'{"Id":"%s"}' % EXEC.encode()),
    ),
    (request("POST", "/containers/web/rename?name=db"), response(204, b"")),
    (request("DELETE", "/containers/db"), response(204, b"")),
    (request("GET", "/_ping"), response(200, b"OK")),
]
EXEC_START = request("POST", f"/exec/{EXEC}/start", b'{"Detach":false}', upgrade=True)
UPGRADED = b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"


def _raise(*_args: object, **_kwargs: object) -> object:
    raise RuntimeError("injected fault")


# Every function on the record path, by where it lives.
FAULTS = [
    ("sockspy.core.proxy.recording", "exchange_record"),
    ("sockspy.core.proxy.recording", "session_start_record"),
    ("sockspy.core.proxy.recording", "session_end_record"),
    ("sockspy.core.proxy.recording", "connection_record"),
    ("sockspy.core.proxy.recording", "recorded_input"),
    ("sockspy.core.proxy.recording", "mask_target"),
    ("sockspy.core.docker.summary", "summarise"),
    ("sockspy.core.docker.objects", "created"),
    ("sockspy.core.docker.objects", "touched"),
    ("sockspy.core.proxy.lineage.Lineage", "link"),
    ("sockspy.core.proxy.lineage.Lineage", "made"),
    ("sockspy.core.proxy.lineage.Lineage", "find"),
    ("sockspy.core.proxy.lineage.Lineage", "forget"),
    ("sockspy.core.proxy.lineage.Lineage", "renamed"),
    ("sockspy.core.deciding.client.Client", "fields"),
]


def run_connection(decision: Decision = ALLOW) -> tuple[Conversation, bytes, bytes, list[dict]]:
    """Drive the script, then an exec session; (conversation, what the daemon got, what
    the client got, every record)."""
    conv = Conversation(
        1, CLIENT, GateInForce(AllowAll()), clock=lambda: 0.0, lineage=Lineage(), run_id="r"
    )
    to_daemon, to_client = [], []

    def drain() -> None:
        to_daemon.extend(i for i in conv.to_upstream if isinstance(i, bytes))
        to_client.extend(i for i in conv.to_client if isinstance(i, bytes))
        conv.to_upstream.clear()
        conv.to_client.clear()

    for sent, answer in [*SCRIPT, (EXEC_START, UPGRADED + b"\x01\x00\x00\x00\x00\x00\x00\x02hi")]:
        conv.client_data(sent)
        while conv.pending_decision is not None:
            conv.decided(decision)
        drain()
        assert not conv.finished, "the connection was cut"
        conv.upstream_data(answer)
        drain()
    assert conv.tunnel and not conv.finished
    conv.tunnel_closed(0, 0, {"exit_code": 0})
    records = [*conv.records, conv.connection_closed()]
    return conv, b"".join(to_daemon), b"".join(to_client), records  # type: ignore[return-value]


def test_without_faults_the_connection_records_every_exchange_and_the_session() -> None:
    _, _to_daemon, _to_client, records = run_connection()
    events = [r["event"] for r in records]
    assert events.count("exchange") == len(SCRIPT) + 1
    assert events.count("session_start") == 2 and events.count("session_end") == 2  # logs, exec
    assert "internal_error" not in events
    deleted = next(r for r in records if r.get("endpoint") == "container.delete")
    assert deleted["created_by"]["record_id"] == "r-1-1"  # the lineage followed the rename


@pytest.mark.parametrize("where", FAULTS, ids=lambda f: f"{f[0].rsplit('.', 1)[-1]}.{f[1]}")
def test_a_fault_on_the_record_path_costs_a_record_never_a_byte_or_the_connection(
    where: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, expected_daemon, expected_client, _ = run_connection()
    monkeypatch.setattr(f"{where[0]}.{where[1]}", _raise)
    _conv, to_daemon, to_client, records = run_connection()
    assert to_daemon == expected_daemon  # every request, byte for byte, in order
    assert to_client == expected_client  # every answer, byte for byte: the ping too
    errors = [r for r in records if r["event"] == "internal_error"]
    assert errors, "the fault was not reached, or not reported"
    exchanges = [r for r in records if r["event"] == "exchange"]
    assert len(exchanges) == len(SCRIPT) + 1  # every exchange keeps a record, if incomplete
    assert [r["record_id"] for r in exchanges] == [f"r-1-{n}" for n in range(1, len(SCRIPT) + 2)]
    assert all("injected fault" in r["error"] for r in errors)
    assert all(
        r.get("record_id", "").startswith("r-1-") or r["where"] == "connection_record"
        for r in errors
    )
    assert records[-1]["event"] in ("connection", "internal_error")


def test_a_redaction_that_raises_answers_502_and_never_the_original_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_args: object) -> bytes:
        raise KeyError("surprise")

    monkeypatch.setattr("sockspy.core.docker.redaction.redact", broken)
    conv = Conversation(1, CLIENT, GateInForce(AllowAll()), clock=lambda: 0.0)
    conv.client_data(request("GET", "/containers/web/json"))
    conv.decided(Decision(allowed=True, redact=("env",)))
    conv.to_upstream.clear()
    conv.upstream_data(response(200, b'{"Config":{"Env":["A=secret"]}}'))
    sent = b"".join(i for i in conv.to_client if isinstance(i, bytes))
    assert sent.startswith(b"HTTP/1.1 502 ") and b"secret" not in sent
    record = next(r for r in conv.records if r["event"] == "exchange")
    assert record["status"] == 502 and record["code"] == "redaction_failed"
