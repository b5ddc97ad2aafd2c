"""The admin address (`--admin-listen`): health and counters, never on a proxied front.

`GET /healthz` pings the daemon (`GET /_ping`) and answers 200 with JSON when it
answered, 503 when not: `status`, `upstream` (address, reachable, error), `policy`
(source, mode, when loaded, reloads), `open_connections`, `uptime_s`. `GET /metrics`
answers the server's counters in Prometheus' text format (`core/metrics.py`; JSON with
`?format=json`), without touching the daemon. Anything else is a
404 (405 for another method). One request per connection; the connection is closed after
the answer. The proxied fronts know nothing of these paths: `/healthz` there is a Docker
API path like any other, decided by the policy and forwarded or denied.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from contextlib import suppress
from typing import Any

import trio

from sockspy.core.serving.metrics import CONTENT_TYPE, prometheus_text
from sockspy.io.listeners import Front
from sockspy.io.sockstream import ByteStream, SockStream, StreamClosed
from sockspy.io.upstream import Upstream, UpstreamError, connect

# An admin request is one short exchange: its head, and the daemon's answer to a ping.
ADMIN_REQUEST_SECONDS = 5.0
PING_SECONDS = 3.0
_HEAD_LIMIT = 16 * 1024
_PING = b"GET /_ping HTTP/1.1\r\nHost: api.moby.localhost\r\nConnection: close\r\n\r\n"

Status = Callable[[], dict[str, Any]]


class Admin:
    """The admin address: /healthz, /metrics (Prometheus text or JSON); never proxied."""

    def __init__(
        self,
        upstream: Upstream,
        status: Status,
        metrics: Status,
        exchanges: Callable[[], Mapping[str, int]] = dict,
    ) -> None:
        self.upstream = upstream
        self.status = status
        self.metrics = metrics
        self.exchanges = exchanges

    async def serve(self, front: Front) -> None:
        async with trio.open_nursery() as nursery:
            while True:
                try:
                    stream = await front.listener.accept()
                except OSError:  # out of fds: back off, the proxied fronts come first
                    await trio.sleep(0.1)
                    continue
                nursery.start_soon(self._handle, SockStream.adopt(stream))

    async def _handle(self, stream: ByteStream) -> None:
        try:
            with trio.move_on_after(ADMIN_REQUEST_SECONDS):
                head = await _read_head(stream)
                if head is not None:
                    await stream.send_all(await self.respond(head))
        except StreamClosed:
            pass
        finally:
            with suppress(StreamClosed):
                await stream.aclose()

    async def respond(self, head: bytes) -> bytes:
        """The whole response to one request head: Prometheus text for GET /metrics
        (JSON with ?format=json), JSON for everything else."""
        method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
        path, _, query = rest.partition(" ")[0].partition("?")
        if method == "GET" and path == "/metrics" and "format=json" not in query.split("&"):
            text = prometheus_text(self.metrics(), self.exchanges())
            return _response_bytes(200, text.encode(), CONTENT_TYPE)
        status, body = await self.answer(method, path)
        return _response_bytes(status, json.dumps(body).encode() + b"\n", "application/json")

    async def answer(self, method: str, path: str) -> tuple[int, dict[str, Any]]:
        if path not in ("/healthz", "/metrics"):
            return 404, {"message": f"sockspy admin: no such path {path!r}"}
        if method != "GET":
            return 405, {"message": f"sockspy admin: {method} not allowed on {path}"}
        if path == "/metrics":
            return 200, self.metrics()
        error = await self.ping()
        body: dict[str, Any] = {
            "status": "ok" if error is None else "upstream_unreachable",
            "upstream": {"address": str(self.upstream), "reachable": error is None},
            **self.status(),
        }
        if error is not None:
            body["upstream"]["error"] = error
        return (200 if error is None else 503), body

    async def ping(self) -> str | None:
        """None if the daemon answers `GET /_ping` with 200, else why not."""
        try:
            with trio.fail_after(PING_SECONDS):
                daemon = await connect(self.upstream)
                try:
                    await daemon.send_all(_PING)
                    answer = await _read_head(daemon)
                finally:
                    with suppress(StreamClosed):
                        await daemon.aclose()
        except trio.TooSlowError:
            return f"no answer to /_ping within {PING_SECONDS:g} s"
        except UpstreamError as exc:
            return str(exc)
        except StreamClosed as exc:
            return repr(exc)
        if answer is None:
            return "the daemon closed the connection without an answer"
        status_line = answer.split(b"\r\n", 1)[0].decode("latin-1")
        if status_line.split(" ")[1:2] != ["200"]:
            return f"the daemon answered /_ping with {status_line!r}"
        return None


async def _read_head(stream: ByteStream) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > _HEAD_LIMIT:
            return None
        chunk = await stream.receive_some(_HEAD_LIMIT)
        if not chunk:
            return None
        data += chunk
    return data


def _response_bytes(status: int, payload: bytes, content_type: str) -> bytes:
    phrase = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
    head = (
        f"HTTP/1.1 {status} {phrase.get(status, 'Error')}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(payload)}\r\n"
        "Server: sockspy\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + payload
