"""serve and explain decide every request alike, given the same answers from the daemon.

Both run one decision procedure (`Gate.judge`, driven by a `Judgement`); they differ only
in who answers its look-ups. Here `serve` is a real `Server` in front of a fake daemon
that answers inspects from a book, and `explain` is its own path (`explain_request`)
with the same book. Every request of the bypass corpus (under its strict policy) and of
the preset tables (under each preset) must get the same endpoint, verdict, rule, code,
profile and reason from both, and the same status where sockspy answers itself.
"""

from __future__ import annotations

import json
import os
import socket as stdlib_socket
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import h11
import trio
from e2e.bypass_corpus import ATTEMPTS, Scene, _render
from e2e.test_bypass import POLICY as BYPASS_POLICY
from policy.test_presets import CLEAN, FINDINGS_TABLE, TABLE
from support.serving import memory_log, run_trio, stop, written_records

from sockspy.cli.explain import explain_request, request_bytes
from sockspy.core.deciding.client import Client, PeerCred
from sockspy.core.deciding.gate import Gate
from sockspy.core.deciding.lookups import (
    InspectContainer,
    InspectExec,
    InspectImage,
    InspectVolume,
    Lookup,
)
from sockspy.core.docker.daemon import read_daemon_facts
from sockspy.core.docker.routes import split_version
from sockspy.core.serving.address import UnixAddress
from sockspy.io.server import ServeConfig, Server
from sockspy.policy.engine import PolicyGate
from sockspy.policy.load import parse_policy
from sockspy.policy.presets import PRESETS, load_preset

Objects = dict[str, Mapping[str, Any] | None]
VERSION = {"Components": [{"Name": "Engine"}], "Version": "20.10.24", "ApiVersion": "1.41"}
INFO = {"CgroupVersion": "2", "SecurityOptions": ["name=seccomp,profile=default"]}


class Book:
    """What the fake daemon knows: containers by every name a request may use; no volume
    exists yet (a create makes it plain). The same book answers explain's look-ups."""

    def __init__(
        self,
        containers: Objects,
        default: Mapping[str, Any] | None = None,
        execs: Objects | None = None,
        images: Objects | None = None,
    ) -> None:
        self.containers = containers
        self.default = default  # a container not in the book (None: there is no such one)
        self.execs = execs or {}
        self.images = images or {}

    def container(self, name: str) -> Mapping[str, Any] | None:
        return self.containers.get(name, self.default)

    def answer(self, lookup: Lookup) -> Any:  # explain's answerer
        if isinstance(lookup, InspectContainer):
            return self.container(lookup.name)
        if isinstance(lookup, InspectExec):
            return self.execs.get(lookup.id)
        if isinstance(lookup, InspectImage):
            return self.images.get(lookup.name)
        if isinstance(lookup, InspectVolume):
            return None
        return read_daemon_facts(VERSION, INFO)  # what the fake daemon says of itself


def respond(book: Book, method: str, target: str) -> tuple[int, Any]:
    path = split_version(target.split("?", 1)[0])[1]
    if method == "GET" and path in ("/containers/json", "/services", "/tasks"):
        return 200, []  # a list, as dockerd answers (a preset that redacts reads it)
    if method == "GET" and path.startswith("/containers/") and path.endswith("/json"):
        found = book.container(path[len("/containers/") : -len("/json")])
        return (200, found) if found is not None else (404, {"message": "No such container"})
    looked_up = path.removesuffix("/json").rsplit("/", 1)[-1]
    if method == "GET" and path.startswith("/exec/") and looked_up in book.execs:
        return 200, book.execs[looked_up]
    if method == "GET" and path.startswith("/images/") and path[8:-5] in book.images:
        return 200, book.images[path[8:-5]]
    if method == "GET" and path.startswith(("/volumes/", "/images/", "/exec/")):
        return 404, {"message": "no such object"}
    if method == "GET" and path in ("/version", "/info"):
        return 200, VERSION if path == "/version" else INFO
    return 200, {}


async def fake_daemon(books: list[Book], stream: trio.SocketStream) -> None:
    """An HTTP/1.1 daemon: inspects from the book in force (`books[0]`), 200 {} for
    everything else."""
    conn = h11.Connection(h11.SERVER)
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                conn.receive_data(data)
                if not data:
                    return
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.EndOfMessage):
                method, target = request.method.decode(), request.target.decode()
                status, answer = respond(books[0], method, target)
                body = json.dumps(answer).encode()
                headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
                response = conn.send(h11.Response(status_code=status, headers=headers))
                if method != "HEAD":
                    response += conn.send(h11.Data(data=body))
                await stream.send_all(response + conn.send(h11.EndOfMessage()))
                if conn.our_state is not h11.DONE:
                    return
                conn.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed):
                return
    except (h11.ProtocolError, trio.BrokenResourceError, OSError):
        return
    finally:
        await stream.aclose()


def serve_all(gate: Gate, cases: Sequence[tuple[bytes, Book]]) -> list[list[dict[str, Any]]]:
    """The exchange records of each payload, each sent on a connection of its own while
    the fake daemon answers from its book."""
    books = [cases[0][1]]
    rundir = tempfile.mkdtemp(prefix="ssagree", dir="/tmp")
    upstream, front = os.path.join(rundir, "daemon.sock"), os.path.join(rundir, "front.sock")
    log, sink = memory_log()
    config = ServeConfig([UnixAddress(front)], UnixAddress(upstream), gate, log, grace_period=1)

    async def main() -> None:
        sock = trio.socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
        await sock.bind(upstream)
        sock.listen(64)
        async with trio.open_nursery() as nursery:
            handler: Callable[[trio.SocketStream], Any] = lambda s: fake_daemon(books, s)  # noqa: E731
            nursery.start_soon(trio.serve_listeners, handler, [trio.SocketListener(sock)])
            server = Server(config)
            server.inspector.ttl = 0  # every look-up reaches the book
            await nursery.start(server.run)
            for payload, book in cases:
                books[0] = book
                stream = await trio.open_unix_socket(front)
                await stream.send_all(payload)
                await stream.send_eof()
                with trio.fail_after(10):
                    while await stream.receive_some(65536):
                        pass
                await stream.aclose()
            await stop(server, front)
            nursery.cancel_scope.cancel()

    run_trio(main)
    records = written_records(log, sink)
    by_conn: dict[int, list[dict[str, Any]]] = {}
    for record in records:
        if record["event"] == "exchange":
            by_conn.setdefault(record["conn_id"], []).append(record)
    return [by_conn.get(number, []) for number in range(1, len(cases) + 1)]


def client_of(record: Mapping[str, Any]) -> Client:
    """The client serve identified (the test process on a unix front), for explain."""
    peer = PeerCred(record["peer_pid"], record["peer_uid"], record["peer_gid"])
    return Client(front=record["front"], peer=peer, exe=record.get("peer_exe"))


def outcome(record: Mapping[str, Any]) -> tuple[Any, ...]:
    allowed = record["decision"] in ("allow", "would_deny")
    status = None if allowed else record["status"]  # an allowed one's is the daemon's
    reason = None if record["decision"] == "allow" else record["reason"]
    return (record["endpoint"], record["decision"], record["rule"], record["code"],
            record["profile"], reason, status)  # fmt: skip


def explained(gate: Gate, client: Client, data: bytes, book: Book) -> tuple[Any, ...]:
    result = explain_request(gate, client, data, book)
    if result.decision is None or result.request is None:
        return outcome(result.refusal)
    decision = result.decision
    status = None if decision.allowed else decision.status
    reason = None if decision.outcome == "allow" else decision.reason
    return (result.request.endpoint, decision.outcome, decision.rule, decision.code,
            decision.profile, reason, status)  # fmt: skip


def corpus_scene() -> tuple[Scene, Book]:
    victim_id = "a1b2c3d4" + "0" * 56
    victim = {"Id": victim_id, "HostConfig": {"Binds": ["/tmp/bind:/host"]}, "Mounts": []}
    plain = {"Id": "f" * 64, "HostConfig": {"NetworkMode": "bridge"}, "Mounts": []}
    scene = Scene(
        image="busybox", victim="victim", victim_id=victim_id, victim_prefix="a1b2",
        plain="plain", linker="linker", dormant="dormant", fresh="fresh",
        marker_prefix="sockspy-bypass-test", hostdir="/tmp/never-made",
        priv_exec="e" * 64, root_exec="d" * 64, workdir_image="fd-workdir:latest",
    )  # fmt: skip
    containers: Objects = {
        "victim": victim, victim_id: victim, "a1b2": victim, "linker/x": victim,
        "dormant": victim, "plain": plain, "linker": plain, "fresh": plain,
    }  # fmt: skip
    execs: Objects = {
        "e" * 64: {"ProcessConfig": {"privileged": True, "user": ""}, "ContainerID": "plain"},
        "d" * 64: {"ProcessConfig": {"privileged": False, "user": "0"}, "ContainerID": "plain"},
    }
    images: Objects = {"fd-workdir:latest": {"Config": {"WorkingDir": "/proc/self/fd/7"}}}
    return scene, Book(containers, execs=execs, images=images)


def test_serve_and_explain_decide_every_request_of_the_bypass_corpus_alike() -> None:
    gate = PolicyGate(parse_policy(BYPASS_POLICY, "strict.toml"))
    scene, book = corpus_scene()
    requests = [
        [_render(req, scene, scene.marker(attempt)) for req in attempt.requests]
        for attempt in ATTEMPTS
    ]
    served = serve_all(gate, [(b"".join(parts), book) for parts in requests])
    compared = 0
    for attempt, parts, records in zip(ATTEMPTS, requests, served, strict=True):
        assert records, attempt.id
        client = client_of(records[0])
        # serve decides the requests of one connection in order; explain each on its own.
        for number, (data, record) in enumerate(zip(parts, records, strict=False)):
            assert explained(gate, client, data, book) == outcome(record), (attempt.id, number)
            compared += 1
    assert compared >= len(ATTEMPTS)


def test_serve_and_explain_decide_every_request_of_the_preset_tables_alike() -> None:
    rows: dict[str, list[tuple[bytes, Mapping[str, Any] | None]]] = {name: [] for name in PRESETS}
    for preset, method, target, _ in TABLE:
        body = b"{}" if method == "POST" and target.split("?")[0].endswith(
            ("/create", "/exec", "/start")
        ) else b""  # fmt: skip
        rows[preset].append((request_bytes(method, target, body), CLEAN))
    for preset, method, target, body, inspect, _ in FINDINGS_TABLE:
        rows[preset].append((request_bytes(method, target, body or b""), inspect))
    compared = 0
    for preset, rows_of_preset in rows.items():
        if not rows_of_preset:
            continue
        gate = PolicyGate(load_preset(preset))
        # Each row's book answers every container name with that row's inspect answer.
        cases = [(data, Book({}, default=inspect)) for data, inspect in rows_of_preset]
        for (data, book), records in zip(cases, serve_all(gate, cases), strict=True):
            assert len(records) == 1, (preset, data[:60])
            assert explained(gate, client_of(records[0]), data, book) == outcome(records[0]), (
                preset, data[:80],
            )  # fmt: skip
            compared += 1
    assert compared == len(TABLE) + len(FINDINGS_TABLE)
