"""Operating sockspy: connection limits, the head timeout, rate limits, SIGHUP reload and
the admin address, with a real `Server` in front of a fake daemon."""

from __future__ import annotations

import json
import os
import re
import signal
import socket as stdlib_socket
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio
from support.serving import memory_log, run_trio, stop, written_records

from sockspy.certs import write_certs
from sockspy.core.deciding.gate import AllowAll, DenyEndpoints
from sockspy.core.serving.address import TcpAddress, UnixAddress
from sockspy.io.reload import LoadedPolicy, ReloadError
from sockspy.io.server import ServeConfig, Server
from sockspy.io.tls import TlsFiles, load_server_tls
from sockspy.policy.engine import PolicyGate
from sockspy.policy.load import parse_policy

PING = b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"
PONG = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"

Scenario = Callable[[str, Server], Awaitable[None]]


async def pong_daemon(stream: trio.SocketStream) -> None:
    """Answers every request head with PONG; records each request line it saw."""
    buf = b""
    while True:
        try:
            data = await stream.receive_some(65536)
        except trio.BrokenResourceError:
            return
        if not data:
            return
        buf += data
        while b"\r\n\r\n" in buf:
            head, buf = buf.split(b"\r\n\r\n", 1)
            SEEN.append(head.split(b"\r\n", 1)[0])
            await stream.send_all(PONG)


SEEN: list[bytes] = []


async def serve_fake_daemon(path: str, task_status: Any) -> None:
    sock = trio.socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
    await sock.bind(path)
    sock.listen(64)
    task_status.started()
    await trio.serve_listeners(pong_daemon, [trio.SocketListener(sock)])


def run(scenario: Scenario, **settings: Any) -> list[dict[str, Any]]:
    """Run `scenario(front_path, server)` against sockspy in front of the fake daemon."""
    SEEN.clear()
    rundir = tempfile.mkdtemp(prefix="ssop", dir="/tmp")
    upstream_path = os.path.join(rundir, "daemon.sock")
    front_path = os.path.join(rundir, "front.sock")
    log, sink = memory_log()
    settings.setdefault("gate", AllowAll())
    settings.setdefault("upstream", UnixAddress(upstream_path))
    settings.setdefault("listen", [UnixAddress(front_path)])
    config = ServeConfig(
        log=log,
        grace_period=2.0,
        **settings,
    )

    unix_front = any(isinstance(a, UnixAddress) for a in config.listen)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(serve_fake_daemon, upstream_path)
            server = Server(config)
            await nursery.start(server.run)
            await scenario(front_path, server)
            await stop(server, front_path if unix_front else None)
            nursery.cancel_scope.cancel()

    run_trio(main)
    return written_records(log, sink)


async def read_response(stream: trio.abc.Stream, limit: float = 5) -> bytes:
    """One whole response (head and Content-Length body), or what came before EOF."""
    data = b""
    with trio.fail_after(limit):
        while True:
            if b"\r\n\r\n" in data:
                head, body = data.split(b"\r\n\r\n", 1)
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                if len(body) >= length:
                    return data
            chunk = await stream.receive_some(65536)
            if not chunk:
                return data
            data += chunk


async def read_to_eof(stream: trio.abc.Stream, limit: float = 5) -> bytes:
    data = b""
    with trio.fail_after(limit):
        while chunk := await stream.receive_some(65536):
            data += chunk
    return data


def events(records: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [r for r in records if r["event"] == name]


def test_a_slowloris_head_is_cut_after_the_timeout_while_others_are_served() -> None:
    timings: dict[str, float] = {}

    async def scenario(front: str, server: Server) -> None:
        slow = await trio.open_unix_socket(front)
        started = trio.current_time()
        await slow.send_all(b"GET /_ping HTTP/1.1\r\n")
        served = 0
        while trio.current_time() - started < 0.6:  # a normal client, meanwhile
            fast = await trio.open_unix_socket(front)
            await fast.send_all(PING)
            assert (await read_response(fast)).endswith(b"OK")
            await fast.aclose()
            served += 1
            await slow.send_all(b"X")  # dribble: every byte must not restart the clock
            await trio.sleep(0.05)
        answer = await read_to_eof(slow)
        timings["cut_after"] = trio.current_time() - started
        timings["served"] = served
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
        assert body == {"message": "sockspy: request head not complete after 1 s"}

    records = run(scenario, head_timeout=1.0)
    assert 1.0 <= timings["cut_after"] < 2.5
    assert timings["served"] >= 3
    refused = [r for r in events(records, "exchange") if r["status"] == 408]
    assert len(refused) == 1 and refused[0]["code"] == "head_timeout"
    assert b"GET /_ping HTTP/1.1" in SEEN  # the normal clients' pings reached the daemon


def test_an_idle_keep_alive_connection_is_never_cut_by_the_head_timeout() -> None:
    async def scenario(front: str, server: Server) -> None:
        stream = await trio.open_unix_socket(front)
        await stream.send_all(PING)
        assert (await read_response(stream)).endswith(b"OK")
        await trio.sleep(0.8)  # idle, nothing pending: longer than the head timeout
        await stream.send_all(PING)
        assert (await read_response(stream)).endswith(b"OK")
        await stream.aclose()

    records = run(scenario, head_timeout=0.3)
    assert [r["status"] for r in events(records, "exchange")] == [200, 200]


def test_connections_over_a_client_share_get_429_json_and_an_audit_record() -> None:
    async def scenario(front: str, server: Server) -> None:
        first = await trio.open_unix_socket(front)
        second = await trio.open_unix_socket(front)
        await first.send_all(PING)
        assert (await read_response(first)).endswith(b"OK")
        await second.send_all(PING)
        answer = await read_to_eof(second)
        assert answer.startswith(b"HTTP/1.1 429 Too Many Requests\r\n")
        message = json.loads(answer.split(b"\r\n\r\n", 1)[1])["message"]
        assert message.startswith("sockspy: too many connections from uid:")
        await first.aclose()
        await trio.sleep(0.1)  # its slot is free again
        third = await trio.open_unix_socket(front)
        await third.send_all(PING)
        assert (await read_response(third)).endswith(b"OK")
        await third.aclose()

    records = run(scenario, max_connections_per_client=1)
    [refused] = events(records, "connection_refused")
    assert (refused["status"], refused["code"]) == (429, "too_many_client_connections")
    assert refused["peer_uid"] == os.getuid()


def test_connections_over_the_total_get_503() -> None:
    async def scenario(front: str, server: Server) -> None:
        held = [await trio.open_unix_socket(front) for _ in range(2)]
        for stream in held:
            await stream.send_all(PING)
            assert (await read_response(stream)).endswith(b"OK")
        extra = await trio.open_unix_socket(front)
        await extra.send_all(PING)
        answer = await read_to_eof(extra)
        assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        assert b"too many connections (2 open, at most 2)" in answer
        for stream in held:
            await stream.aclose()

    records = run(scenario, max_connections=2)
    assert [r["code"] for r in events(records, "connection_refused")] == ["too_many_connections"]


def test_tls_connections_stuck_before_their_handshake_count_against_the_total(
    tmp_path: Path,
) -> None:
    write_certs(tmp_path, ["127.0.0.1"], ["alice"])
    files = TlsFiles(
        verify=True,
        cacert=str(tmp_path / "ca.pem"),
        cert=str(tmp_path / "server-cert.pem"),
        key=str(tmp_path / "server-key.pem"),
    )
    client_context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    client_context.load_cert_chain(tmp_path / "alice" / "cert.pem", tmp_path / "alice" / "key.pem")
    port = _free_port()

    async def alice_pings() -> bytes:
        raw = await trio.open_tcp_stream("127.0.0.1", port)
        tls = trio.SSLStream(raw, client_context, server_hostname="127.0.0.1")
        try:
            await tls.send_all(PING)
            return await read_response(tls)
        except trio.BrokenResourceError:
            return b""
        finally:
            await trio.aclose_forcefully(tls)

    async def scenario(front: str, server: Server) -> None:
        silent = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(2)]
        with trio.fail_after(5):
            while server.limits.handshaking < 2:  # both accepted, neither says a word
                await trio.sleep(0.01)
        assert await alice_pings() == b""  # over the total: closed before any TLS
        for stream in silent:
            await stream.aclose()
        with trio.fail_after(5):
            while server.limits.handshaking:
                await trio.sleep(0.01)
        assert (await alice_pings()).endswith(b"OK")

    records = run(
        scenario, listen=[TcpAddress("127.0.0.1", port)], tls=load_server_tls(files),
        max_connections=2,
    )  # fmt: skip
    [tls] = events(records, "tls")  # the start-up record of the server certificate
    assert tls["cert_names"] == ["127.0.0.1"] and tls["level"] == "info"
    [refused] = events(records, "connection_refused")
    assert refused["code"] == "too_many_connections" and refused["client_ip"] == "127.0.0.1"
    assert refused["reason"] == "too many connections (2 open, at most 2)"
    assert [r["tls_cn"] for r in events(records, "exchange")] == ["alice"]


def test_requests_over_the_rate_get_429_rate_limited() -> None:
    async def scenario(front: str, server: Server) -> None:
        stream = await trio.open_unix_socket(front)
        statuses = []
        for _ in range(4):
            await stream.send_all(PING)
            statuses.append((await read_response(stream)).split(b" ", 2)[1])
        assert statuses == [b"200", b"200", b"429", b"429"]
        await stream.aclose()

    records = run(scenario, rate_limit=0.01, rate_burst=2)
    limited = [r for r in events(records, "exchange") if r["status"] == 429]
    assert [r["code"] for r in limited] == ["rate_limited", "rate_limited"]


def test_sighup_swaps_the_policy_and_a_broken_one_keeps_the_old() -> None:
    policies: list[Callable[[], LoadedPolicy]] = []

    def reload() -> LoadedPolicy:
        return policies[-1]()

    def deny_ping() -> LoadedPolicy:
        return LoadedPolicy(DenyEndpoints(["system.ping"]), {"source": "test"})

    def broken() -> LoadedPolicy:
        raise ReloadError(["policy.toml:3: rule 'x': unknown key 'methodz'"])

    async def status_of_a_ping(stream: trio.SocketStream) -> bytes:
        await stream.send_all(PING)
        return (await read_response(stream)).split(b" ", 2)[1]

    async def scenario(front: str, server: Server) -> None:
        keep_alive = await trio.open_unix_socket(front)
        assert await status_of_a_ping(keep_alive) == b"200"
        policies.append(deny_ping)
        os.kill(os.getpid(), signal.SIGHUP)
        with trio.fail_after(5):
            while server.reloader.reloads < 1:
                await trio.sleep(0.01)
        assert await status_of_a_ping(keep_alive) == b"403"  # new requests, same connection
        policies.append(broken)
        os.kill(os.getpid(), signal.SIGHUP)
        with trio.fail_after(5):
            while server.reloader.failures < 1:
                await trio.sleep(0.01)
        assert await status_of_a_ping(keep_alive) == b"403"  # the old policy stays
        await keep_alive.aclose()

    records = run(scenario, reload=reload, policy_fields={"source": "test"})
    reloads = events(records, "policy_reload")
    assert [r["ok"] for r in reloads] == [True, False]
    assert reloads[1]["problems"] == ["policy.toml:3: rule 'x': unknown key 'methodz'"]
    assert reloads[1]["level"] == "error"


BODY_RULES = """
[[rules]]
name = "no-privileged"
action = "deny"
endpoints = ["container.create"]
if_findings = ["privileged"]

[[rules]]
name = "rest"
action = "allow"
"""


def test_a_reload_that_raises_or_lowers_max_body_bytes_applies_to_the_next_request() -> None:
    def policy(limit: int) -> LoadedPolicy:
        text = f"max_body_bytes = {limit}\n{BODY_RULES}"
        return LoadedPolicy(PolicyGate(parse_policy(text, "p.toml")), {"source": "test"})

    policies = [policy(1024)]

    def create(size: int) -> bytes:
        # No Image: the pong daemon cannot answer the look-up of one.
        body = json.dumps({"Labels": {"pad": "x" * size}}).encode()
        head = "POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: "
        head += f"application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        return head.encode() + body

    async def status_of(stream: trio.SocketStream, request: bytes) -> bytes:
        await stream.send_all(request)
        return (await read_response(stream)).split(b" ", 2)[1]

    async def reload(server: Server, count: int) -> None:
        os.kill(os.getpid(), signal.SIGHUP)
        with trio.fail_after(5):
            while server.reloader.reloads < count:
                await trio.sleep(0.01)

    async def scenario(front: str, server: Server) -> None:
        keep_alive = await trio.open_unix_socket(front)
        assert await status_of(keep_alive, create(500)) == b"200"
        policies.append(policy(4096))
        await reload(server, 1)
        assert await status_of(keep_alive, create(3000)) == b"200"  # raised: the open one too
        policies.append(policy(1024))
        await reload(server, 2)
        assert await status_of(keep_alive, create(3000)) == b"413"  # lowered: the same
        await keep_alive.aclose()

    records = run(scenario, gate=policies[0].gate, reload=lambda: policies[-1],
                  policy_fields={"source": "test"})  # fmt: skip
    creates = [r for r in events(records, "exchange") if r["endpoint"] == "container.create"]
    assert [(r["status"], r["code"]) for r in creates] == [
        (200, None), (200, None), (413, "body_too_large"),
    ]  # fmt: skip
    assert len({r["conn_id"] for r in creates}) == 1


def test_admin_healthz_answers_on_its_own_address_and_not_on_the_front() -> None:
    port = _free_port()
    answers: dict[str, Any] = {}

    async def get_raw(path: str) -> tuple[bytes, bytes]:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head, body = (await read_to_eof(stream)).split(b"\r\n\r\n", 1)
        return head, body

    async def get(path: str) -> tuple[int, dict[str, Any]]:
        head, body = await get_raw(path)
        return int(head.split(b" ")[1]), json.loads(body)

    async def scenario(front: str, server: Server) -> None:
        answers["healthz"] = await get("/healthz")
        answers["other"] = await get("/containers/json")
        proxied = await trio.open_unix_socket(front)
        await proxied.send_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answers["front"] = await read_response(proxied)
        await proxied.aclose()
        with trio.fail_after(5):
            while server.pumps:  # the exchange is counted when its connection has ended
                await trio.sleep(0.01)
        answers["metrics"] = await get("/metrics?format=json")
        answers["prometheus"] = await get_raw("/metrics")

    run(scenario, admin=[TcpAddress("127.0.0.1", port)], policy_fields={"source": "preset:x"})
    status, health = answers["healthz"]
    assert status == 200 and health["status"] == "ok"
    assert health["upstream"]["reachable"] is True
    assert health["policy"]["source"] == "preset:x"
    assert health["open_connections"] == 0 and health["uptime_s"] >= 0
    status, metrics = answers["metrics"]
    assert status == 200 and metrics["connections_accepted"] == 1
    head, text = answers["prometheus"]
    assert (
        head.startswith(b"HTTP/1.1 200 OK") and b"Content-Type: text/plain; version=0.0.4" in head
    )
    lines = text.decode().splitlines()
    assert "# TYPE sockspy_connections_accepted_total counter" in lines
    assert "sockspy_connections_accepted_total 1" in lines
    assert "sockspy_open_connections 0" in lines
    assert 'sockspy_exchanges_total{decision="allow"} 1' in lines
    samples = [line for line in lines if not line.startswith("#")]
    assert all(re.fullmatch(r'[a-z_]+(\{decision="[a-z_]+"\})? [0-9.e+-]+', s) for s in samples)
    assert answers["other"][0] == 404
    # On the proxied front /healthz is a Docker API path like any other: the daemon answers.
    assert answers["front"] == PONG
    assert b"GET /healthz HTTP/1.1" in SEEN


def test_healthz_is_503_when_the_daemon_is_unreachable() -> None:
    port = _free_port()
    result: list[bytes] = []

    async def scenario(front: str, server: Server) -> None:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        result.append(await read_to_eof(stream))

    run(
        scenario,
        admin=[TcpAddress("127.0.0.1", port)],
        upstream=UnixAddress("/nonexistent/docker.sock"),
    )
    head, body = result[0].split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 503 ")
    health = json.loads(body)
    assert health["status"] == "upstream_unreachable" and not health["upstream"]["reachable"]


def _free_port() -> int:
    with stdlib_socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
