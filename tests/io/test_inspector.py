"""The inspector's look-ups of the daemon's own defaults, against a scripted daemon."""

from __future__ import annotations

import json
import os
import socket as stdlib_socket
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from support.serving import request_target

from sockspy.core.docker.daemon import DaemonFacts
from sockspy.core.serving.address import UnixAddress
from sockspy.io.inspector import DaemonLookups

VERSION = {
    "Components": [{"Name": "Engine", "Version": "20.10.24+dfsg1"}],
    "Version": "20.10.24+dfsg1",
    "ApiVersion": "1.41",
}
INFO = {"CgroupVersion": "1", "SecurityOptions": ["name=seccomp,profile=default"]}
EXPECTED = DaemonFacts("Engine", "20.10.24+dfsg1", "1.41", "1", ("name=seccomp,profile=default",))


class ScriptedDaemon:
    """Answers GET /version and GET /info (or `status` for every request); counts them."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.targets: list[str] = []

    async def handle(self, stream: trio.SocketStream) -> None:
        target = await request_target(stream)
        if target is None:
            return
        self.targets.append(target)
        answers: dict[str, Any] = {"/version": VERSION, "/info": INFO}
        body = json.dumps(answers.get(target, {"message": "no"})).encode()
        await stream.send_all(
            f"HTTP/1.1 {self.status} X\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await stream.aclose()


def run(
    daemon: ScriptedDaemon | None, scenario: Callable[[DaemonLookups], Awaitable[None]]
) -> None:
    path = os.path.join(tempfile.mkdtemp(prefix="ssin", dir="/tmp"), "daemon.sock")

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            if daemon is not None:
                sock = trio.socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
                await sock.bind(path)
                sock.listen(16)
                listener = trio.SocketListener(sock)
                nursery.start_soon(trio.serve_listeners, daemon.handle, [listener])
            await scenario(DaemonLookups(UnixAddress(path), daemon_ttl=60))
            nursery.cancel_scope.cancel()

    trio.run(main)


def test_daemon_facts_are_read_once_and_cached() -> None:
    daemon = ScriptedDaemon()

    async def scenario(inspector: DaemonLookups) -> None:
        results: list[DaemonFacts | None] = []

        async def ask() -> None:
            results.append(await inspector.daemon_facts())

        async with trio.open_nursery() as nursery:  # concurrent requests share one look-up
            for _ in range(5):
                nursery.start_soon(ask)
        assert results == [EXPECTED] * 5
        assert await inspector.daemon_facts() == EXPECTED

    run(daemon, scenario)
    assert daemon.targets == ["/version", "/info"]


def test_daemon_facts_expire() -> None:
    daemon = ScriptedDaemon()

    async def scenario(inspector: DaemonLookups) -> None:
        inspector.daemon_ttl = 0
        assert await inspector.daemon_facts() == EXPECTED
        assert await inspector.daemon_facts() == EXPECTED

    run(daemon, scenario)
    assert daemon.targets == ["/version", "/info"] * 2


def test_daemon_facts_are_unknown_when_the_daemon_cannot_tell_and_asked_again_later() -> None:
    daemon = ScriptedDaemon(status=500)

    async def scenario(inspector: DaemonLookups) -> None:
        assert await inspector.daemon_facts() is None
        daemon.status = 200
        assert await inspector.daemon_facts() == EXPECTED

    run(daemon, scenario)
    assert daemon.targets == ["/version", "/version", "/info"]


def test_daemon_facts_are_unknown_when_the_daemon_is_unreachable() -> None:
    async def scenario(inspector: DaemonLookups) -> None:
        assert await inspector.daemon_facts() is None

    run(None, scenario)
