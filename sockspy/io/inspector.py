"""Looks up existing containers for the gate, through the daemon, briefly cached.

Some decisions depend on a container that already exists (`docker cp` into a container
with a host bind, VolumesFrom such a container). sockspy asks the daemon itself with
`GET /containers/{name}/json` on a connection of its own. Answers are cached for a
couple of seconds: enough to absorb the bursts one CLI command makes, short enough that a
container recreated under the same name is seen as it is now.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

import h11
import trio

from sockspy.core.address import UpstreamAddress
from sockspy.io.sockstream import SockStream
from sockspy.io.upstream import connect

CACHE_SECONDS = 2.0
MAX_ANSWER = 16 * 1024 * 1024


class InspectError(Exception):
    """The daemon did not give a usable answer; the gate must not guess."""


class ContainerInspector:
    def __init__(self, upstream: UpstreamAddress, ttl: float = CACHE_SECONDS) -> None:
        self.upstream = upstream
        self.ttl = ttl
        self._cache: dict[str, tuple[float, dict[str, Any] | None]] = {}

    async def inspect(self, name: str) -> dict[str, Any] | None:
        """The container's inspect JSON, or None if the daemon has no such container."""
        now = time.monotonic()
        cached = self._cache.get(name)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        answer = await self._ask(name)
        if len(self._cache) > 1024:
            self._cache.clear()
        self._cache[name] = (now, answer)
        return answer

    async def _ask(self, name: str) -> dict[str, Any] | None:
        stream = await connect(self.upstream)
        try:
            conn = h11.Connection(h11.CLIENT)
            target = f"/containers/{quote(name, safe='/')}/json"
            request = h11.Request(
                method="GET",
                target=target,
                headers=[("Host", "sockspy"), ("Connection", "close")],
            )
            await stream.send_all(conn.send(request) + conn.send(h11.EndOfMessage()))
            status, body = await _read_response(conn, stream)
        except (h11.ProtocolError, trio.BrokenResourceError, OSError) as exc:
            raise InspectError(f"inspecting container {name!r} failed: {exc}") from None
        finally:
            await stream.aclose()
        if status == 404:
            return None
        if status != 200:
            raise InspectError(f"inspecting container {name!r}: daemon answered {status}")
        try:
            answer = json.loads(body)
        except ValueError:
            raise InspectError(f"inspecting container {name!r}: answer is not JSON") from None
        if not isinstance(answer, dict):
            raise InspectError(f"inspecting container {name!r}: answer is not an object")
        return answer


async def _read_response(conn: h11.Connection, stream: SockStream) -> tuple[int, bytes]:
    status = 0
    body = bytearray()
    with trio.fail_after(30):
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_ANSWER:
                    raise InspectError("inspect answer too large")
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return status, bytes(body)
