"""The trio layer against a fake daemon: edge cases a real dockerd cannot be made to produce.

Each test runs a real `Server` in-process on a unix front, in front of a scripted
upstream, and talks to it over real sockets.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket as stdlib_socket
import tempfile
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import trio
import trio.lowlevel
from support.serving import memory_log, run_trio, stop, written_records

from sockspy.core.deciding.client import Client
from sockspy.core.deciding.gate import AllowAll, GateInForce
from sockspy.core.proxy.outbox import APART, Outbox
from sockspy.core.serving.address import UnixAddress
from sockspy.io import sockstream
from sockspy.io.logsink import AuditLog
from sockspy.io.pump import Pump
from sockspy.io.server import ServeConfig, Server

Handler = Callable[[trio.SocketStream], Awaitable[None]]

PING = b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"
PONG = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"


async def read_until(stream: trio.SocketStream, marker: bytes, limit: float = 5) -> bytes:
    data = b""
    with trio.fail_after(limit):
        while marker not in data:
            chunk = await stream.receive_some(65536)
            if not chunk:
                break
            data += chunk
    return data


async def read_to_eof(stream: trio.SocketStream, limit: float = 5) -> bytes:
    data = b""
    with trio.fail_after(limit):
        while chunk := await stream.receive_some(65536):
            data += chunk
    return data


async def serve_fake_daemon(path: str, handler: Handler, task_status: Any) -> None:
    sock = trio.socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
    await sock.bind(path)
    sock.listen(16)
    listener = trio.SocketListener(sock)
    task_status.started()
    await trio.serve_listeners(handler, [listener])


def run_with_server(
    handler: Handler,
    scenario: Callable[[str], Awaitable[None]],
    grace: float = 5.0,
    **settings: Any,
) -> list[dict[str, Any]]:
    """Run `scenario(front_path)` against sockspy in front of `handler` (`settings`: more
    `ServeConfig` fields); return the records."""
    rundir = tempfile.mkdtemp(prefix="ssio", dir="/tmp")
    upstream_path = os.path.join(rundir, "daemon.sock")
    front_path = os.path.join(rundir, "front.sock")
    log, sink = memory_log()
    config = ServeConfig(
        listen=[UnixAddress(front_path)],
        upstream=UnixAddress(upstream_path),
        gate=AllowAll(),
        log=log,
        grace_period=grace,
        **settings,
    )

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(serve_fake_daemon, upstream_path, handler)
            server = Server(config)
            await nursery.start(server.run)
            await scenario(front_path)
            await stop(server, front_path, grace + 5)
            nursery.cancel_scope.cancel()

    run_trio(main)
    return written_records(log, sink)


def test_output_after_half_close_reaches_the_client_in_a_tunnel() -> None:
    async def daemon(stream: trio.SocketStream) -> None:
        await read_until(stream, b"\r\n\r\n")
        await stream.send_all(
            b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
        )
        stdin = await read_to_eof(stream)  # the client's half-close must arrive here
        await trio.sleep(0.3)  # output that starts after stdin EOF
        await stream.send_all(b"got " + str(len(stdin)).encode())
        await stream.aclose()

    received: list[bytes] = []

    async def client(front: str) -> None:
        stream = await trio.open_unix_socket(front)
        await stream.send_all(
            b"POST /v1.41/containers/c1/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: x\r\n"
            b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
        )
        head = await read_until(stream, b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        await stream.send_all(b"x" * 100_000)
        await stream.send_eof()
        received.append(await read_to_eof(stream))
        await stream.aclose()

    records = run_with_server(daemon, client)
    assert received == [b"got 100000"]
    session = [r for r in records if r["event"] == "session_end"]
    assert session[0]["client_to_daemon_bytes"] == 100_000
    assert session[0]["daemon_to_client_bytes"] == len(b"got 100000")


def test_client_that_disconnects_mid_stream_closes_its_upstream() -> None:
    upstream_closed = trio.Event()

    async def daemon(stream: trio.SocketStream) -> None:
        await read_until(stream, b"\r\n\r\n")
        await stream.send_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        await stream.send_all(b"5\r\nevent\r\n")
        await read_to_eof(stream, limit=10)  # sockspy must close or half-close
        upstream_closed.set()

    async def client(front: str) -> None:
        stream = await trio.open_unix_socket(front)
        await stream.send_all(b"GET /v1.41/events HTTP/1.1\r\nHost: x\r\n\r\n")
        await read_until(stream, b"event")
        await stream.aclose()
        with trio.fail_after(5):
            await upstream_closed.wait()

    records = run_with_server(daemon, client)
    connection = [r for r in records if r["event"] == "connection"]
    assert len(connection) == 1


def test_daemon_that_disconnects_mid_response_closes_its_client() -> None:
    async def daemon(stream: trio.SocketStream) -> None:
        await read_until(stream, b"\r\n\r\n")
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await stream.aclose()

    async def client(front: str) -> None:
        stream = await trio.open_unix_socket(front)
        await stream.send_all(b"GET /v1.41/containers/json HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await read_to_eof(stream)).endswith(b"partial")
        await stream.aclose()

    records = run_with_server(daemon, client)
    exchange = next(r for r in records if r["event"] == "exchange")
    assert exchange["reason"] == "daemon closed the connection"
    assert exchange["response_body_bytes"] == len(b"partial")


def test_malformed_client_is_refused_while_others_are_served() -> None:
    async def daemon(stream: trio.SocketStream) -> None:
        while True:
            if not await read_until(stream, b"\r\n\r\n"):
                return
            await stream.send_all(PONG)

    async def client(front: str) -> None:
        good = await trio.open_unix_socket(front)
        await good.send_all(PING)
        assert (await read_until(good, b"\r\n\r\nOK")).endswith(PONG)
        bad = await trio.open_unix_socket(front)
        await bad.send_all(
            b"GET /_ping HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
        )
        reply = await read_to_eof(bad)
        assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["message"].startswith("sockspy: ")
        await good.send_all(PING)  # the other connection is untouched
        assert (await read_until(good, b"\r\n\r\nOK")).endswith(PONG)
        await good.aclose()
        await bad.aclose()

    records = run_with_server(daemon, client)
    decisions = [r["decision"] for r in records if r["event"] == "exchange"]
    assert sorted(decisions) == ["allow", "allow", "reject"]


def test_file_descriptors_do_not_grow_with_connections() -> None:
    async def daemon(stream: trio.SocketStream) -> None:
        data = await read_until(stream, b"\r\n\r\n")
        if b"/events" in data:
            await stream.send_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            await read_to_eof(stream, limit=30)
        else:
            await stream.send_all(PONG)
            await read_to_eof(stream, limit=30)

    counts: list[int] = []

    async def client(front: str) -> None:
        async def one(kind: int) -> None:
            stream = await trio.open_unix_socket(front)
            if kind == 0:
                await stream.send_all(PING)
                await read_until(stream, b"\r\n\r\nOK")
            elif kind == 1:
                await stream.send_all(b"GET /v1.41/events HTTP/1.1\r\nHost: x\r\n\r\n")
                await read_until(stream, b"\r\n\r\n")
            elif kind == 2:
                await stream.send_all(b"BAD\r\n\r\n")
                await read_to_eof(stream)
            else:
                await stream.send_all(b"GET /_pi")  # gone mid-head
            await stream.aclose()

        await one(0)
        await trio.sleep(0.2)
        baseline = len(os.listdir("/proc/self/fd"))
        for round_no in range(3):
            async with trio.open_nursery() as nursery:
                for i in range(60):
                    nursery.start_soon(one, i % 4)
            with trio.move_on_after(5):
                while len(os.listdir("/proc/self/fd")) > baseline:
                    await trio.sleep(0.05)
            counts.append(len(os.listdir("/proc/self/fd")) - baseline)
            del round_no

    records = run_with_server(daemon, client)
    assert counts == [0, 0, 0]
    assert len([r for r in records if r["event"] == "connection"]) == 1 + 3 * 60


def test_shutdown_lets_an_open_stream_run_for_the_grace_period_then_exits() -> None:
    async def daemon(stream: trio.SocketStream) -> None:
        await read_until(stream, b"\r\n\r\n")
        await stream.send_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(100):
            await stream.send_all(b"1\r\n.\r\n")
            await trio.sleep(0.05)

    seen: dict[str, float] = {}

    async def client(front: str) -> None:
        stream = await trio.open_unix_socket(front)
        idle = await trio.open_unix_socket(front)
        await stream.send_all(b"GET /v1.41/events HTTP/1.1\r\nHost: x\r\n\r\n")
        await read_until(stream, b"\r\n\r\n")

        async def watch() -> None:
            await read_to_eof(idle, limit=5)
            seen["idle_closed"] = trio.current_time()
            await read_to_eof(stream, limit=10)
            seen["stream_closed"] = trio.current_time()

        seen["signal"] = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            await trio.lowlevel.checkpoint()
            os.kill(os.getpid(), signal.SIGTERM)

    run_with_server(daemon, client, grace=1.0)
    assert seen["idle_closed"] - seen["signal"] < 0.5  # idle keep-alive: closed at once
    assert 0.9 <= seen["stream_closed"] - seen["signal"] < 3  # the stream got its grace


def test_an_attach_that_answers_at_once_loses_no_byte() -> None:
    """attach logs=1 stream=0: the daemon writes the 101, the logs and closes, in one go.
    Run many times: every byte arrives, each session counts them."""
    upgraded = b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    logs = b"\x01\x00\x00\x00\x00\x00\x00\x06hello\n"
    attach = (
        b"POST /v1.41/containers/c/attach?logs=1&stream=0&stdout=1 HTTP/1.1\r\nHost: x\r\n"
        b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    )
    runs = 100

    async def daemon(stream: trio.SocketStream) -> None:
        await read_until(stream, b"\r\n\r\n")
        await stream.send_all(upgraded + logs)  # one write: sockspy reads them together
        await stream.aclose()

    received: list[bytes] = []

    async def scenario(front: str) -> None:
        for _ in range(runs):
            client = await trio.open_unix_socket(front)
            await client.send_all(attach)
            received.append(await read_to_eof(client))
            await client.aclose()

    records = run_with_server(daemon, scenario)
    assert received == [upgraded + logs] * runs
    sessions = [r for r in records if r["event"] == "session_end"]
    assert len(sessions) == runs
    assert all(r["daemon_to_client_bytes"] == len(logs) for r in sessions)


class RecordingStream:
    """A ByteStream that keeps each send as it was made."""

    def __init__(self) -> None:
        self.sends: list[bytes] = []

    async def receive_some(self, max_bytes: int = 65536) -> bytes:
        return b""

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self.sends.append(bytes(data))

    async def send_eof(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def test_small_pieces_are_joined_but_never_across_an_apart_marker() -> None:
    stream = RecordingStream()
    pump = Pump(1, stream, Client(front="test"), GateInForce(AllowAll()), UnixAddress("/nowhere"),
                AuditLog("json", io.StringIO()))  # fmt: skip
    outbox: Outbox = deque([b"HTTP/1.1 101 UPGRADED\r\n\r\n", APART, b"out", b"put"])
    trio.run(pump._send, stream, outbox, "client")
    assert stream.sends == [b"HTTP/1.1 101 UPGRADED\r\n\r\n", b"output"]


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() -> None:
    async def daemon(stream: trio.SocketStream) -> None:
        while await read_until(stream, b"\r\n\r\n"):
            await stream.send_all(PONG)

    async def client(front: str) -> None:
        stream = await trio.open_unix_socket(front)
        await stream.send_all(PING)
        assert (await read_until(stream, b"OK")).endswith(b"OK")
        with trio.fail_after(3):
            assert await read_to_eof(stream) == b""  # closed by sockspy, not by the client
        await stream.aclose()

    records = run_with_server(daemon, client, idle_timeout=0.3)
    [closed] = [r for r in records if r["event"] == "connection"]
    assert closed["close_reason"].startswith("idle timeout")


def test_the_idle_timeout_never_cuts_a_quiet_stream() -> None:
    async def daemon(stream: trio.SocketStream) -> None:
        await read_until(stream, b"\r\n\r\n")
        await stream.send_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        await trio.sleep(1.0)  # a quiet events stream, longer than the idle timeout
        await stream.send_all(b"5\r\nevent\r\n0\r\n\r\n")
        await read_to_eof(stream)

    got: list[bytes] = []

    async def client(front: str) -> None:
        stream = await trio.open_unix_socket(front)
        await stream.send_all(b"GET /v1.41/events HTTP/1.1\r\nHost: x\r\n\r\n")
        got.append(await read_until(stream, b"0\r\n\r\n"))
        await stream.aclose()

    run_with_server(daemon, client, idle_timeout=0.3)
    assert got and got[0].endswith(b"5\r\nevent\r\n0\r\n\r\n")


ATTACH = (
    b"POST /v1.41/containers/c1/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: x\r\n"
    b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
)
UPGRADED = b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"


def test_a_half_closed_session_whose_client_is_gone_is_closed(monkeypatch: Any) -> None:
    monkeypatch.setattr(sockstream, "HANGUP_CHECK_SECONDS", 0.1)
    upstream_closed = trio.Event()

    async def daemon(stream: trio.SocketStream) -> None:
        await read_until(stream, b"\r\n\r\n")
        await stream.send_all(UPGRADED)
        await read_to_eof(stream)  # the client's half-close arrives; no output ever
        with trio.fail_after(5):  # then sockspy must let go of the daemon
            while not sockstream.hung_up(stream.socket):
                await trio.sleep(0.05)
        upstream_closed.set()

    async def client(front: str) -> None:
        sock = trio.socket.socket(stdlib_socket.AF_UNIX)
        await sock.connect(front)
        await sock.send(ATTACH)
        assert (await sock.recv(1024)).startswith(b"HTTP/1.1 101")
        sock.shutdown(stdlib_socket.SHUT_WR)
        await trio.sleep(0.3)
        sock.close()  # the client goes away without reading another byte
        with trio.fail_after(5):
            await upstream_closed.wait()

    records = run_with_server(daemon, client)
    [closed] = [r for r in records if r["event"] == "connection"]
    assert "hung up after its half-close" in closed["close_reason"]


def test_a_half_closed_session_whose_client_still_waits_is_never_cut(monkeypatch: Any) -> None:
    monkeypatch.setattr(sockstream, "HANGUP_CHECK_SECONDS", 0.1)

    async def daemon(stream: trio.SocketStream) -> None:
        await read_until(stream, b"\r\n\r\n")
        await stream.send_all(UPGRADED)
        await read_to_eof(stream)
        await trio.sleep(1.0)  # many hang-up checks pass
        await stream.send_all(b"late output")
        await stream.aclose()

    got: list[bytes] = []

    async def client(front: str) -> None:
        stream = await trio.open_unix_socket(front)
        await stream.send_all(ATTACH)
        assert (await read_until(stream, b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
        await stream.send_eof()
        got.append(await read_to_eof(stream))
        await stream.aclose()

    run_with_server(daemon, client)
    assert got == [b"late output"]
