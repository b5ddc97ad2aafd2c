"""Which request bodies are held for the gate, as behaviour: one source of truth
(`sockspy.core.docker.bodies.BODY_SCHEMAS`), and what it means on a connection.

A body the host-access checks read (a create's HostConfig, a build's context for the
URLs its Dockerfile ADDs) is held whole until the gate decides, so a privileged create
never reaches the daemon; a body no rule reads streams to the daemon as it comes.
"""

from __future__ import annotations

import io
import json
import tarfile

from sockspy.cli.policies import load_named
from sockspy.core.deciding.client import Client, PeerCred
from sockspy.core.deciding.gate import GateInForce
from sockspy.core.deciding.judgement import decide_offline
from sockspy.core.docker.bodies import BODY_SCHEMAS
from sockspy.core.proxy.conversation import Conversation
from sockspy.core.proxy.states import RequestState
from sockspy.policy.engine import PolicyGate
from sockspy.policy.hostaccess import body_endpoints
from sockspy.policy.load import parse_policy

CLIENT = Client(front="unix:///run/sockspy.sock", peer=PeerCred(pid=42, uid=1000, gid=1000))


def head(method: str, target: str, length: int, kind: str = "application/json") -> bytes:
    return (
        f"{method} /v1.41{target} HTTP/1.1\r\nHost: docker\r\nContent-Type: {kind}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def sent(outbox: object) -> bytes:
    return b"".join(i for i in outbox if isinstance(i, bytes))  # type: ignore[attr-defined]


def test_a_privileged_create_body_is_held_for_the_gate_and_a_build_tar_is_streamed() -> None:
    gate = PolicyGate(load_named("ci-runner"))
    conv = Conversation(1, CLIENT, GateInForce(gate), clock=lambda: 0.0)
    body = json.dumps({"Image": "busybox", "HostConfig": {"Privileged": True}}).encode()
    create = head("POST", "/containers/create", len(body))
    conv.client_data(create + body[:10])
    assert conv.state is RequestState.BUFFER_BODY and sent(conv.to_upstream) == b""  # held, whole
    conv.client_data(body[10:])
    request = conv.pending_decision
    assert request is not None and request.body == body  # the gate reads all of it
    decision = decide_offline(gate, request, CLIENT)
    assert not decision.allowed and "Privileged" in (decision.reason or "")
    conv.decided(decision)
    assert sent(conv.to_upstream) == b""  # not one byte of it reached the daemon


def tar_of(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_a_build_context_is_held_where_a_rule_reads_its_dockerfile_and_streamed_elsewhere() -> None:
    gate = PolicyGate(load_named("ci-runner"))
    tar = tar_of("Dockerfile", b"FROM busybox\nADD http://127.0.0.1:8080/secret /s\n")
    build = Conversation(2, CLIENT, GateInForce(gate), clock=lambda: 0.0)
    build.client_data(head("POST", "/build?t=x", len(tar), "application/x-tar") + tar[:512])
    assert build.state is RequestState.BUFFER_BODY and sent(build.to_upstream) == b""
    build.client_data(tar[512:])
    request = build.pending_decision
    assert request is not None and request.body == tar
    decision = decide_offline(gate, request, CLIENT)
    assert not decision.allowed and "ADD 'http://127.0.0.1:8080/secret'" in (decision.reason or "")
    build.decided(decision)
    assert sent(build.to_upstream) == b""  # not one byte of the context reached the daemon

    streamed = PolicyGate(parse_policy('[[rules]]\nname = "all"\naction = "allow"\n'))
    build = Conversation(3, CLIENT, GateInForce(streamed), clock=lambda: 0.0)
    build.client_data(head("POST", "/build?t=x", len(tar), "application/x-tar") + tar[:512])
    request = build.pending_decision
    assert request is not None and request.body is None  # decided on its head alone
    build.decided(decide_offline(streamed, request, CLIENT))
    assert build.state is RequestState.FORWARD_BODY
    build.client_data(tar[512:])
    assert sent(build.to_upstream).endswith(tar)  # streamed as it came


def test_the_checks_read_exactly_the_bodies_sockspy_can_decode_as_dockerd() -> None:
    assert body_endpoints() == frozenset(BODY_SCHEMAS) | {"image.build"}  # JSON, and a context
    assert "image.build" not in BODY_SCHEMAS and "plugin.create" not in BODY_SCHEMAS  # tars
