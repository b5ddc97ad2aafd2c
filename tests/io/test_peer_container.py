"""Naming a client's container, against a scripted daemon: cached, and dropped at the
container events the daemon reports on sockspy's own events stream."""

from __future__ import annotations

import json
import os
import socket as stdlib_socket
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from support.serving import request_target

from sockspy.core.deciding.client import Client, PeerCred
from sockspy.core.serving.address import UnixAddress
from sockspy.io.inspector import DaemonLookups
from sockspy.io.peer_container import PeerContainers

CID = "ab" * 32
NET = "n1" * 32


class ScriptedDaemon:
    """A container (renamable), one bridge network, and an events stream the test feeds."""

    def __init__(self) -> None:
        self.name = "/web"
        self.targets: list[str] = []
        self.events_open = trio.Event()
        self.send_event: trio.MemorySendChannel[bytes]
        self.send_event, self._events = trio.open_memory_channel[bytes](10)

    async def handle(self, stream: trio.SocketStream) -> None:
        target = await request_target(stream)
        if target is None:
            return
        self.targets.append(target.split("?")[0])
        if target.startswith("/events"):
            await stream.send_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            self.events_open.set()
            async for line in self._events:
                await stream.send_all(b"%x\r\n%s\r\n" % (len(line), line))
            return
        answers: dict[str, Any] = {
            f"/containers/{CID}/json": {"Id": CID, "Name": self.name},
            "/networks": [
                {"Id": NET, "Name": "bridge", "Driver": "bridge", "Scope": "local"},
                {"Id": "h", "Name": "host", "Driver": "host", "Scope": "local"},
            ],
            f"/networks/{NET}": {
                "Containers": {CID: {"Name": self.name[1:], "IPv4Address": "172.18.0.5/16"}}
            },
        }
        found = target in answers
        body = json.dumps(answers.get(target, {"message": "no such thing"})).encode()
        await stream.send_all(
            f"HTTP/1.1 {200 if found else 404} X\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await stream.aclose()


def run(daemon: ScriptedDaemon, scenario: Callable[[PeerContainers], Awaitable[None]]) -> None:
    path = os.path.join(tempfile.mkdtemp(prefix="ssct", dir="/tmp"), "daemon.sock")

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            sock = trio.socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
            await sock.bind(path)
            sock.listen(16)
            nursery.start_soon(trio.serve_listeners, daemon.handle, [trio.SocketListener(sock)])
            directory = PeerContainers(DaemonLookups(UnixAddress(path)))
            directory.nursery = nursery
            await scenario(directory)
            nursery.cancel_scope.cancel()

    trio.run(main)


UNIX_PEER = Client(front="unix:///s", peer=PeerCred(1, 0, 0), container_id=CID)


def test_a_unix_peers_container_is_named_once_until_a_container_event() -> None:
    daemon = ScriptedDaemon()

    async def scenario(directory: PeerContainers) -> None:
        assert (await directory.complete(UNIX_PEER)).container_name == "web"
        await daemon.events_open.wait()
        daemon.name = "/api"  # renamed: the cache still says web until the event comes
        assert (await directory.complete(UNIX_PEER)).container_name == "web"
        await daemon.send_event.send(b'{"Type":"container","Action":"rename"}\n')
        await trio.sleep(0.1)
        assert (await directory.complete(UNIX_PEER)).container_name == "api"

    run(daemon, scenario)
    assert daemon.targets.count(f"/containers/{CID}/json") == 2
    assert daemon.targets.count("/events") == 1


def test_a_tcp_peer_is_named_by_the_container_that_owns_its_address() -> None:
    daemon = ScriptedDaemon()

    async def scenario(directory: PeerContainers) -> None:
        inside = Client(front="tcp://172.18.0.1:2375", ip="172.18.0.5", port=40000)
        named = await directory.complete(inside)
        assert (named.container_id, named.container_name) == (CID, "web")
        assert named.fields()["client_container"] == "web"
        elsewhere = await directory.complete(Client(front="tcp://x", ip="10.1.1.1", port=1))
        assert elsewhere.container_id is None
        mapped = await directory.complete(Client(front="tcp://x", ip="::ffff:172.18.0.5", port=1))
        assert mapped.container_name == "web"

    run(daemon, scenario)
    assert daemon.targets.count("/networks") == 1  # one map for all three, cached
    assert f"/networks/{NET}" in daemon.targets and "/networks/h" not in daemon.targets


def test_loopback_and_host_processes_cost_no_lookup() -> None:
    daemon = ScriptedDaemon()

    async def scenario(directory: PeerContainers) -> None:
        local = Client(front="tcp://127.0.0.1:2375", ip="127.0.0.1", port=1)
        assert await directory.complete(local) is local
        host = Client(front="unix:///s", peer=PeerCred(1, 0, 0))
        assert await directory.complete(host) is host

    run(daemon, scenario)
    assert daemon.targets == []
