"""The container behind a client, named by the daemon: who is calling, in Docker's terms.

A unix peer's container id comes from its cgroup (`sockspy.io.peer`); its *name*
(`traefik`, `portainer`) is what an auditor and a profile's `container_names` read, and
only the daemon knows it. A tcp peer on this host (a container calling over a container
network) is known only by its source address; the daemon's networks say which container
owns that address. Both answers are cached and dropped when the daemon reports a
container event that could change them (an events stream sockspy opens for itself the
first time a client in a container connects), and after `TTL_SECONDS` in any case.

This sits on the connection path, so a cache hit costs no I/O, a look-up is bounded by
`LOOKUP_SECONDS`, and a host process or a remote client (no container id, an address in
no container network) costs nothing after the first miss. A failed look-up leaves the
client unnamed: it is an audit fact, never a reason to refuse.

An address-derived identity is as strong as the network's addresses: a container that
can spoof another's address on a shared bridge can take its name (as with `cidrs`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import time
from dataclasses import replace
from urllib.parse import quote

import h11
import trio

from sockspy.core.deciding.client import Client
from sockspy.core.deciding.lookups import LookupFailed
from sockspy.io.inspector import DaemonLookups
from sockspy.io.sockstream import StreamClosed
from sockspy.io.upstream import UpstreamError, connect

TTL_SECONDS = 60.0
LOOKUP_SECONDS = 1.0
RETRY_WATCH_SECONDS = 5.0
# The container events after which a name or an address may mean another container.
_EVENTS = ("create", "start", "rename", "die", "destroy", "connect", "disconnect")
_EVENTS_TARGET = "/events?filters=" + quote(
    json.dumps({"type": ["container", "network"], "event": list(_EVENTS)}), safe=""
)


class PeerContainers:
    """Names the container a client runs in (by its cgroup id, or for a tcp peer by its
    address on a Docker network), from the daemon, cached and kept fresh by its events."""

    def __init__(self, inspector: DaemonLookups) -> None:
        self.inspector = inspector
        self.nursery: trio.Nursery | None = None  # where the events watcher runs (the server's)
        self._names: dict[str, tuple[float, str | None]] = {}  # id -> name
        self._addresses: tuple[float, dict[str, tuple[str, str]]] | None = None  # ip -> id, name
        self._address_lock = trio.Lock()
        self._watching = False

    async def complete(self, client: Client) -> Client:
        """`client` with its container named (and, for a tcp peer, found)."""
        if client.ip is not None:
            if _local_candidate(client.ip):
                with trio.move_on_after(LOOKUP_SECONDS):
                    owner = await self._owner(client.ip)
                    if owner is not None:
                        return replace(client, container_id=owner[0], container_name=owner[1])
            return client
        if client.container_id is None:
            return client
        with trio.move_on_after(LOOKUP_SECONDS):
            name = await self._name(client.container_id)
            if name is not None:
                return replace(client, container_name=name)
        return client

    def forget(self) -> None:
        self._names.clear()
        self._addresses = None

    async def _name(self, container_id: str) -> str | None:
        now = time.monotonic()
        cached = self._names.get(container_id)
        if cached is not None and now - cached[0] < TTL_SECONDS:
            return cached[1]
        self._watch()
        try:  # not the inspector's cache: after an event the answer must be fresh
            answer = await self.inspector.inspect_fresh(container_id)
        except (LookupFailed, UpstreamError, trio.TooSlowError):
            return None  # not cached: asked again at the next connection
        name = str(answer.get("Name") or "").lstrip("/") or None if answer else None
        if len(self._names) > 4096:
            self._names.clear()
        self._names[container_id] = (now, name)
        return name

    async def _owner(self, ip: str) -> tuple[str, str] | None:
        async with self._address_lock:  # one map at a time; the others wait for it
            now = time.monotonic()
            if self._addresses is None or now - self._addresses[0] >= TTL_SECONDS:
                self._watch()
                try:
                    self._addresses = (now, await self._address_map())
                except (LookupFailed, UpstreamError, trio.TooSlowError):
                    return None
            return self._addresses[1].get(_bare(ip))

    async def _address_map(self) -> dict[str, tuple[str, str]]:
        """Every container address on this daemon's local networks: ip -> (id, name)."""
        owners: dict[str, tuple[str, str]] = {}
        networks = await self.inspector.get_json("/networks", "listing networks")
        for network in networks if isinstance(networks, list) else []:
            if not isinstance(network, dict) or network.get("Scope") not in ("local", "swarm"):
                continue
            if network.get("Driver") in ("host", "null"):
                continue
            detail = await self.inspector.get_json(
                f"/networks/{quote(str(network.get('Id')), safe='')}", "inspecting a network"
            )
            containers = detail.get("Containers") if isinstance(detail, dict) else None
            for container_id, entry in (containers or {}).items():
                if not isinstance(entry, dict):
                    continue
                name = str(entry.get("Name") or "")
                for key in ("IPv4Address", "IPv6Address"):
                    address = str(entry.get(key) or "").partition("/")[0]
                    if address:
                        owners[address] = (str(container_id), name)
        return owners

    # -- the events watcher -------------------------------------------------------------

    def _watch(self) -> None:
        if not self._watching and self.nursery is not None:
            self._watching = True
            self.nursery.start_soon(self._watch_events)

    async def _watch_events(self) -> None:
        """Drop the caches at every container event that could change a name or an
        address; reconnect after a failure (the caches expire meanwhile)."""
        while True:
            with contextlib.suppress(UpstreamError, StreamClosed, h11.ProtocolError, OSError):
                await self._follow_events()
            self.forget()
            await trio.sleep(RETRY_WATCH_SECONDS)

    async def _follow_events(self) -> None:
        stream = await connect(self.inspector.upstream)
        try:
            conn = h11.Connection(h11.CLIENT)
            request = h11.Request(
                method="GET", target=_EVENTS_TARGET, headers=[("Host", "sockspy")]
            )
            await stream.send_all(conn.send(request) + conn.send(h11.EndOfMessage()))
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await stream.receive_some(65536)
                    conn.receive_data(data)
                    if not data:
                        return
                elif isinstance(event, h11.Data):
                    self.forget()  # any event in the filter: names or addresses may move
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    return
        finally:
            await stream.aclose()


def _bare(ip: str) -> str:
    """An IPv4-mapped IPv6 peer address as the daemon's networks spell it."""
    address = ip.split("%", 1)[0]
    if address.startswith("::ffff:") and "." in address:
        return address[len("::ffff:") :]
    return address


def _local_candidate(ip: str) -> bool:
    """Could a container own this source address? Not loopback, nor a bad address."""
    try:
        address = ipaddress.ip_address(_bare(ip))
    except ValueError:
        return False
    return not address.is_loopback and not address.is_unspecified
