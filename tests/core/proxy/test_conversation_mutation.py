"""A tenant's decision changes the forwarded bytes exactly as it says (the owner label in
a create body, the owner filter in a query) and the exchange record says so; a client
without a mutation gets every byte through unchanged."""

from __future__ import annotations

import json

from core.proxy.test_conversation import CLIENT, drain, exchanges

from sockspy.core.deciding.decision import Decision, Mutation
from sockspy.core.deciding.gate import GateInForce
from sockspy.core.docker import schemas
from sockspy.core.docker.gojson import decode_into
from sockspy.core.docker.request import Request
from sockspy.core.proxy.conversation import Conversation
from sockspy.core.wire.head import parse_request_head
from sockspy.core.wire.target import parse_target

LABEL = Mutation(body_label=("io.sockspy.owner", "team-a"), added="label io.sockspy.owner=team-a")
BODY = b'{"Image":"bb","Labels":{"app":"web"}}'
HEAD = b"POST /v1.41/containers/create?name=x HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n"
OK = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}"


class Labelling:
    """A gate that reads create bodies and labels them (what ownership decides)."""

    def body_limit(self, request: Request) -> int:
        return 1 << 20

    def wants_body(self, request: object, client: object) -> bool:
        return True


def conversation() -> Conversation:
    return Conversation(1, CLIENT, GateInForce(Labelling()), clock=lambda: 0.0)  # type: ignore[arg-type]


def split(raw: bytes) -> tuple[bytes, bytes]:
    end = raw.index(b"\r\n\r\n") + 4
    return raw[:end], raw[end:]


def test_a_labelled_create_reaches_the_daemon_with_the_label_and_a_fixed_length() -> None:
    conv = conversation()
    conv.client_data(HEAD % len(BODY) + BODY)
    conv.decided(Decision(True, "r", mutation=LABEL))
    head, body = split(drain(conv.to_upstream))
    assert head == HEAD % len(body)
    assert parse_request_head(head).framing.length == len(body)  # type: ignore[union-attr]
    assert body.startswith(BODY[:-1])  # the client's bytes, then the member sockspy adds
    labels = decode_into(body, schemas.CONTAINER_CREATE)["Labels"]
    assert labels == {"app": "web", "io.sockspy.owner": "team-a"}
    conv.upstream_data(OK)
    assert drain(conv.to_client) == OK
    [record] = exchanges(conv)
    assert record["mutated"] is True and record["mutation"] == "label io.sockspy.owner=team-a"
    assert record["request_body_bytes"] == len(BODY)  # what the client sent


def test_a_chunked_create_is_reframed_as_one_chunk() -> None:
    conv = conversation()
    head = b"POST /containers/create HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    conv.client_data(
        head + b"5\r\n" + BODY[:5] + b"\r\n%x\r\n" % (len(BODY) - 5) + BODY[5:] + b"\r\n0\r\n\r\n"
    )
    conv.decided(Decision(True, "r", mutation=LABEL))
    sent_head, raw = split(drain(conv.to_upstream))
    assert sent_head == head
    size, _, rest = raw.partition(b"\r\n")
    assert rest.endswith(b"\r\n0\r\n\r\n") and len(rest) == int(size, 16) + len(b"\r\n0\r\n\r\n")


def test_a_filtered_list_changes_only_its_query() -> None:
    conv = conversation()
    sent = (
        b"GET /v1.41/containers/json?all=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: Docker-Client\r\n\r\n"
    )
    conv.client_data(sent)
    value = json.dumps({"label": {"io.sockspy.owner=team-a": True}})
    mutation = Mutation(query=("filters", value), added="filter label=io.sockspy.owner=team-a")
    conv.decided(Decision(True, "r", mutation=mutation))
    forwarded = drain(conv.to_upstream)
    line, rest = forwarded.split(b"\r\n", 1)
    assert rest == sent.split(b"\r\n", 1)[1]
    target = parse_target(line.split(b" ")[1].decode())
    assert target.params == (("all", "1"), ("filters", value))


def test_a_body_that_cannot_be_labelled_is_refused_and_nothing_is_forwarded() -> None:
    conv = conversation()
    bad = b'{"Image":"bb"} trailing'
    conv.client_data(HEAD % len(bad) + bad)
    conv.decided(Decision(True, "r", mutation=LABEL))
    assert drain(conv.to_upstream) == b""
    assert b"400" in drain(conv.to_client).split(b"\r\n", 1)[0]
    [record] = exchanges(conv)
    assert record["decision"] == "reject" and record["code"] == "mutation_failed"


INSPECT_REQUEST = b"GET /v1.41/containers/web/json HTTP/1.1\r\nHost: h\r\n\r\n"
INSPECT_BODY = b'{"Id":"abc","Config":{"Env":["TOKEN=s3cret"]},"Name":"/web"}\n'
REDACT = Decision(True, "r", redact=("env",))


def test_a_redacted_answer_is_held_whole_rewritten_and_reframed() -> None:
    conv = conversation()
    conv.client_data(INSPECT_REQUEST)
    conv.decided(REDACT)
    assert drain(conv.to_upstream) == INSPECT_REQUEST
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(INSPECT_BODY), INSPECT_BODY)
    head = b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\n"
    conv.upstream_data(head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked[:10])
    assert drain(conv.to_client) == b""  # nothing before the whole answer is redacted
    conv.upstream_data(chunked[10:])
    sent_head, body = split(drain(conv.to_client))
    assert json.loads(body) == {"Id": "abc", "Config": {"Env": ["TOKEN"]}, "Name": "/web"}
    assert sent_head == head + b"Content-Length: %d\r\n\r\n" % len(body)
    [record] = exchanges(conv)
    assert record["redacted"] == ["env"] and record["status"] == 200


def test_an_answer_that_cannot_be_redacted_is_a_502_never_the_original() -> None:
    conv = conversation()
    conv.client_data(INSPECT_REQUEST)
    conv.decided(REDACT)
    drain(conv.to_upstream)
    conv.upstream_data(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nTOKEN=s3c")
    sent = drain(conv.to_client)
    assert sent.startswith(b"HTTP/1.1 502 ") and b"s3c" not in sent
    assert conv.finished
    [record] = exchanges(conv)
    assert record["status"] == 502 and record["code"] == "redaction_failed"


def test_an_error_answer_is_not_held() -> None:
    conv = conversation()
    conv.client_data(INSPECT_REQUEST)
    conv.decided(REDACT)
    drain(conv.to_upstream)
    missing = b'HTTP/1.1 404 Not Found\r\nContent-Length: 13\r\n\r\n{"message":1}'
    conv.upstream_data(missing)
    assert drain(conv.to_client) == missing
