"""How held answers leave: a redacted list streams item by item, bounded by its largest
item; whatever cannot be rewritten never leaves as the daemon sent it; and every byte
held for a rewrite counts against one budget of the process."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sockspy.core.deciding.client import Client, PeerCred
from sockspy.core.deciding.decision import Decision
from sockspy.core.deciding.gate import AllowAll, GateInForce
from sockspy.core.docker import redaction
from sockspy.core.proxy import responses
from sockspy.core.proxy.conversation import Conversation

CLIENT = Client(front="unix:///s", peer=PeerCred(7, 1001, 1001))
REDACT = Decision(allowed=True, redact=("env", "mounts"))


def container(n: int, secret: str = "s3cret") -> dict[str, Any]:
    return {"Id": f"{n:064x}", "Names": [f"/c{n}"], "Labels": {"pad": "x" * 300},
            "Mounts": [{"Source": f"/srv/{secret}", "Destination": "/d"}]}  # fmt: skip


def exchange(
    target: str, answer: bytes, pieces: int = 7, chunked: bool = False, decision: Decision = REDACT
) -> bytes:
    """What the client gets for `target`, the daemon answering `answer` in `pieces`."""
    conv = Conversation(1, CLIENT, GateInForce(AllowAll()), clock=lambda: 0.0)
    conv.client_data(f"GET {target} HTTP/1.1\r\nHost: d\r\n\r\n".encode())
    conv.decided(decision)
    conv.to_upstream.clear()
    if chunked:
        head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in _split(answer, 5))
        wire = head + framed + b"0\r\n\r\n"
    else:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
        wire = head % len(answer) + answer
    for piece in _split(wire, pieces):
        conv.upstream_data(piece)
    return b"".join(i for i in conv.to_client if isinstance(i, bytes))


def _split(data: bytes, parts: int) -> list[bytes]:
    size = max(1, len(data) // parts)
    return [data[i : i + size] for i in range(0, len(data), size)]


def dechunked(response: bytes) -> tuple[bytes, bytes]:
    head, _, rest = response.partition(b"\r\n\r\n")
    body = b""
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            assert rest == b"\r\n"
            return head, body
        body, rest = body + rest[:size], rest[size + 2 :]


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("pieces", [1, 3, 50])
def test_a_redacted_list_longer_than_the_cap_streams_item_by_item(
    chunked: bool, pieces: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redaction, "MAX_REDACTED_BODY", 2000)  # each item fits, the list not
    answer = json.dumps([container(n) for n in range(20)]).encode()
    assert len(answer) > 3 * 2000
    head, body = dechunked(exchange("/v1.41/containers/json", answer, pieces, chunked))
    assert head.startswith(b"HTTP/1.1 200 OK") and b"Transfer-Encoding: chunked" in head
    assert b"Content-Length" not in head and b"s3cret" not in body
    listed = json.loads(body)
    assert [c["Names"] for c in listed] == [[f"/c{n}"] for n in range(20)]
    assert all(c["Mounts"][0]["Source"] == "" for c in listed)


@pytest.mark.parametrize("pieces", [1, 4, 60])
def test_a_tenants_image_list_leaves_out_items_and_keeps_the_others_bytes(pieces: int) -> None:
    only = redaction.foreign_images("io.sockspy.owner", "a")
    theirs = {"Id": "t", "Labels": {"io.sockspy.owner": "b"}, "RepoTags": ["x:1"]}
    ours = {"Id": "o", "Labels": {"io.sockspy.owner": "a"}, "RepoTags": ["y:1"]}
    decision = Decision(allowed=True, redact=(only,))
    for items, kept in (
        ([theirs, ours, theirs], [ours]),
        ([theirs], []),
        ([ours, ours], [ours, ours]),
    ):
        answer = ("[" + ", ".join(json.dumps(i) for i in items) + "]\n").encode()  # spaced
        _, body = dechunked(exchange("/v1.41/images/json", answer, pieces, decision=decision))
        assert json.loads(body) == kept
        assert body.count(json.dumps(ours).encode()) == len(kept)  # as the daemon wrote it


@pytest.mark.parametrize("answer", [b"[]", b" [ ] ", b"[\n]\n"])
def test_an_empty_list_is_still_a_list(answer: bytes) -> None:
    head, body = dechunked(exchange("/v1.41/containers/json", answer))
    assert head.startswith(b"HTTP/1.1 200 OK") and json.loads(body) == []


def test_an_answer_that_is_no_list_is_withheld_before_a_byte_leaves() -> None:
    sent = exchange("/v1.41/containers/json", b'{"message": "surprise"}')
    assert sent.startswith(b"HTTP/1.1 502 ") and b"surprise" not in sent


def test_an_item_over_the_cap_after_others_left_cuts_the_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(redaction, "MAX_REDACTED_BODY", 2000)
    items = [container(0), {**container(1, "hidden"), "Labels": {"pad": "y" * 5000}}]
    sent = exchange("/v1.41/containers/json", json.dumps(items).encode(), pieces=20)
    assert sent.startswith(b"HTTP/1.1 200 OK") and b"/c0" in sent
    assert b"502" not in sent and b"hidden" not in sent and not sent.endswith(b"0\r\n\r\n")


def _holding(big: bytes, uid: int, held: int) -> Conversation:
    """A redacted inspect answer of `big`, its first `held` bytes come, for client `uid`."""
    client = Client(front="unix:///s", peer=PeerCred(7, uid, uid))
    conv = Conversation(1, client, GateInForce(AllowAll()), clock=lambda: 0.0)
    conv.client_data(b"GET /v1.41/containers/c1/json HTTP/1.1\r\nHost: d\r\n\r\n")
    conv.decided(REDACT)
    conv.upstream_data(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(big) + big[:held])
    return conv


def _sent(conv: Conversation) -> bytes:
    return b"".join(i for i in conv.to_client if isinstance(i, bytes))


BIG = json.dumps(container(1) | {"Config": {"Env": ["A=" + "z" * 2000]}}).encode()


def test_a_client_holds_at_most_its_share_of_the_budget_and_a_dropped_answer_frees_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    budget = responses.HeldBytes(limit=12800)  # a client's share: 3200
    monkeypatch.setattr(responses, "BUDGET", budget)
    first = _holding(BIG, 1001, 2000)
    assert budget.total == 2000
    again = _holding(BIG, 1001, 2000)  # the same client: 4000, over its share
    assert _sent(again).startswith(b"HTTP/1.1 503 ") and b"zzz" not in _sent(again)
    other = _holding(BIG, 1002, 2000)  # another client's share is its own
    assert budget.total == 4000 and not _sent(other)
    del first  # its connection is gone: what it held no longer counts
    assert budget.total == 2000
    third = _holding(BIG, 1001, 2000)
    third.upstream_data(BIG[2000:])
    assert _sent(third).startswith(b"HTTP/1.1 200 OK") and budget.held_by("uid:1001") == 0


def test_held_answers_of_all_clients_count_against_one_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    budget = responses.HeldBytes(limit=3000)  # a client's share: 750
    monkeypatch.setattr(responses, "BUDGET", budget)
    held = [_holding(BIG, 2000 + n, 700) for n in range(4)]
    assert budget.total == 2800 and not any(_sent(c) for c in held)
    fifth = _holding(BIG, 2005, 700)  # 3500 in all
    assert _sent(fifth).startswith(b"HTTP/1.1 503 ")


def test_a_redacted_event_stream_leaves_event_by_event_without_exec_command_lines() -> None:
    conv = Conversation(1, CLIENT, GateInForce(AllowAll()), clock=lambda: 0.0)
    conv.client_data(b"GET /v1.41/events HTTP/1.1\r\nHost: d\r\n\r\n")
    conv.decided(Decision(allowed=True, redact=("env",)))
    conv.to_upstream.clear()
    events = [
        {"status": "exec_start: sh -c mysql -ps3cret", "Action": "exec_start: sh -c mysql -ps3cret",
         "Type": "container", "Actor": {"ID": "c1", "Attributes": {"execID": "e1"}}},
        {"status": "start", "Action": "start", "Type": "container", "Actor": {"ID": "c1"}},
    ]  # fmt: skip
    lines = b"".join(json.dumps(e).encode() + b"\n" for e in events)
    conv.upstream_data(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
    sent = b"".join(i for i in conv.to_client if isinstance(i, bytes))
    assert sent.startswith(b"HTTP/1.1 200 OK") and sent.endswith(b"\r\n\r\n")  # at once
    conv.to_client.clear()
    half = len(lines) // 3
    conv.upstream_data(b"%x\r\n%s\r\n" % (half, lines[:half]))  # mid-way through an event
    assert not [i for i in conv.to_client if isinstance(i, bytes) and i]  # nothing yet
    rest = lines[half:]
    conv.upstream_data(b"%x\r\n%s\r\n" % (len(rest), rest))
    _, body = dechunked(b"\r\n\r\n" + b"".join(i for i in conv.to_client if isinstance(i, bytes))
                        + b"0\r\n\r\n")  # fmt: skip
    shown = [json.loads(line) for line in body.splitlines()]
    assert [e["Action"] for e in shown] == ["exec_start", "start"]
    assert shown[0]["status"] == "exec_start" and b"s3cret" not in body
