"""Answers the gate's look-ups from the daemon: existing containers, volumes, and the
daemon's own defaults, cached.

A decision procedure yields a `Lookup` (`sockspy.core.deciding.lookups`); `answer` gives
it what the daemon says, or raises `LookupFailed` (the request is then denied with 502).

Some decisions depend on a container that already exists (`docker cp` into a container
with a host bind, VolumesFrom such a container) or on a named volume's options (one made
with `type=none,o=bind`). sockspy asks the daemon itself with `GET /containers/{name}/json`
or `GET /volumes/{name}` on a connection of its own. Answers are cached for a couple of
seconds: enough to absorb the bursts one CLI command makes, short enough that a container
or volume recreated under the same name is seen as it is now.

Others depend on what the daemon fills in by itself (its default MaskedPaths, its
cgroup namespace mode): sockspy reads its version and cgroup setup with `GET /version`
and `GET /info`, once for several minutes. The cgroup version cannot change without a
reboot, but the daemon can be upgraded (or restarted with other options) under sockspy.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

import h11
import trio

from sockspy.core.deciding.lookups import (
    ContainersWithIdPrefix,
    ImagesOfRepository,
    InspectContainer,
    InspectExec,
    InspectImage,
    InspectNow,
    InspectVolume,
    Lookup,
    LookupFailed,
)
from sockspy.core.docker import imageref
from sockspy.core.docker.daemon import DaemonFacts, read_daemon_facts
from sockspy.io.sockstream import ByteStream, StreamClosed
from sockspy.io.upstream import Upstream, UpstreamError, connect

CACHE_SECONDS = 2.0
DAEMON_CACHE_SECONDS = 300.0
MAX_ANSWER = 16 * 1024 * 1024


# Where `InspectNow` asks, per kind ({} is the percent-encoded name: a "/" in a legacy
# link name "web/db" is encoded too, and dockerd decodes it before routing).
_NOW_TARGETS = {
    "container": "/containers/{}/json",
    "exec": "/exec/{}/json",
    "volume": "/volumes/{}",
    "network": "/networks/{}",
    "image": "/images/{}/json",
}


class InspectError(LookupFailed):
    """The daemon did not give a usable answer; the gate must not guess."""


class DaemonLookups:
    """Answers the gate's look-ups (`sockspy.core.deciding.lookups`) from the daemon, over
    connections of its own: inspects of every kind (cached briefly, or fresh for
    ownership), id-prefix lists, the daemon's own facts, and how a session ended."""

    def __init__(
        self,
        upstream: Upstream,
        ttl: float = CACHE_SECONDS,
        daemon_ttl: float = DAEMON_CACHE_SECONDS,
    ) -> None:
        self.upstream = upstream
        self.ttl = ttl
        self.daemon_ttl = daemon_ttl
        self._cache: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._daemon: tuple[float, DaemonFacts] | None = None
        self._daemon_lock = trio.Lock()

    async def answer(self, lookup: Lookup) -> Any:
        """The daemon's answer to one look-up of a decision procedure. Raises LookupFailed."""
        try:
            if isinstance(lookup, InspectContainer):
                return await self.inspect(lookup.name)
            if isinstance(lookup, InspectVolume):
                return await self.inspect_volume(lookup.name)
            if isinstance(lookup, InspectImage):
                return await self._cached(
                    f"/images/{quote(lookup.name, safe='/:@')}/json",
                    f"image {lookup.name!r}",
                    absent=_NAME_REFUSED,
                )
            if isinstance(lookup, InspectExec):  # not cached: each exec is started once
                target = f"/exec/{quote(lookup.id, safe='')}/json"
                return await self._ask(target, f"inspecting exec {lookup.id!r}")
            if isinstance(lookup, ContainersWithIdPrefix):
                return await self.containers_with_id_prefix(lookup.prefix)
            if isinstance(lookup, ImagesOfRepository):
                return await self.images_of_repository(lookup.repository)
            if isinstance(lookup, InspectNow) and lookup.kind == "container":
                return await self._container(lookup.name, cached=False)
            if isinstance(lookup, InspectNow):
                target = _NOW_TARGETS[lookup.kind].format(quote(lookup.name, safe=""))
                absent = _NAME_REFUSED if lookup.kind in ("image", "network") else (404,)
                what = f"inspecting {lookup.kind} {lookup.name!r}"
                return await self._ask(target, what, absent)
            return await self.daemon_facts()
        except UpstreamError as exc:
            raise LookupFailed(f"cannot reach the daemon to inspect: {exc}") from None
        except trio.TooSlowError:
            raise LookupFailed(f"the daemon did not answer {lookup} in time") from None

    async def ended(self, endpoint: str, name: str) -> dict[str, Any] | None:
        """The exec (exec.start) or container (attach) of a session that has ended, as the
        daemon says it is now (never cached: its state just changed). Raises LookupFailed."""
        if endpoint == "exec.start":
            target, what = f"/exec/{quote(name, safe='')}/json", f"exec {name!r}"
        else:
            target, what = f"/containers/{quote(name, safe='/')}/json", f"container {name!r}"
        try:
            return await self._ask(target, f"inspecting {what}")
        except UpstreamError as exc:
            raise LookupFailed(f"cannot reach the daemon to inspect: {exc}") from None

    async def images_of_repository(self, repository: str) -> list[dict[str, Any]]:
        """Id, tags and labels of every image with a tag in `repository`, now.

        The daemon's reference filter matches a repository by its familiar name
        (``reference.FamiliarMatch``); the answer is narrowed to the images with a tag in
        exactly that repository again, whatever a daemon version's filter does."""
        filters = json.dumps({"reference": {repository: True}})
        target = f"/images/json?filters={quote(filters, safe='')}"
        listed = await self.get_json(target, f"listing the images of {repository!r}")
        if not isinstance(listed, list):
            raise InspectError("the image list is not a list")
        found = []
        for item in listed:
            if not isinstance(item, dict):
                continue
            tags = [tag for tag in item.get("RepoTags") or [] if isinstance(tag, str)]
            if any(imageref.tag_repository(tag) == repository for tag in tags):
                found.append(
                    {"Id": item.get("Id"), "RepoTags": tags, "Labels": item.get("Labels") or {}}
                )
        return found

    async def containers_with_id_prefix(self, prefix: str) -> list[dict[str, Any]]:
        """Id, names and labels of every container whose id begins with `prefix` (hex),
        or that is named `prefix`, now: all dockerd may resolve `prefix` to.

        The daemon's id filter matches an exact id or a prefix (``FuzzyMatch``; checked on
        dockerd 20.10, where "^..." matches nothing), its name filter a regular
        expression over "/name"; the answer is narrowed to true prefixes and exact names
        again, whatever a daemon version's filters do."""
        found: dict[str, dict[str, Any]] = {}
        # The id filter finds nothing for a one-digit prefix (dockerd 20.10), which
        # dockerd still resolves: then every container is listed, and narrowed here.
        queries = [{"id": {prefix: True}}, {"name": {f"^/{prefix}$": True}}]
        for filters in queries if len(prefix) > 1 else [None]:
            target = "/containers/json?all=1"
            if filters is not None:
                target += f"&filters={quote(json.dumps(filters), safe='')}"
            listed = await self.get_json(target, f"listing containers called {prefix!r}")
            if not isinstance(listed, list):
                raise InspectError("the container list is not a list")
            for item in listed:
                if not isinstance(item, dict):
                    continue
                cid, names = str(item.get("Id") or ""), item.get("Names") or []
                if cid.startswith(prefix) or f"/{prefix}" in names:
                    found[cid] = {"Id": cid, "Names": names, "Labels": item.get("Labels") or {}}
        return list(found.values())

    async def inspect(self, name: str) -> dict[str, Any] | None:
        """The container's inspect JSON, or None if the daemon has no such container."""
        return await self._container(name, cached=True)

    async def _container(self, name: str, cached: bool) -> dict[str, Any] | None:
        """A container as dockerd resolves `name` in a body or query.

        dockerd stores names as "/name" and reads "/web" as "web", but never as an id or
        an id prefix; in a path, "//web" would only be redirected (301). So "/web" is
        asked for as "web", and an answer that is not the container named so (an id
        matched instead) is no container. A link path ("/app/db") resolves as "app/db"."""
        bare = name[1:] if name.startswith("/") else name
        if not bare:
            return None
        what, target = f"container {name!r}", f"/containers/{quote(bare, safe='/')}/json"
        if cached:
            answer = await self._cached(target, what)
        else:
            answer = await self._ask(target, f"inspecting {what}")
        if bare == name or "/" in bare or answer is None or answer.get("Name") == name:
            return answer
        if len(bare) == 64:  # a full id matched first; a container may bear it as a name
            raise LookupFailed(f"{what} names both an id and perhaps a name")
        return None  # matched by id or id prefix: "/<hex>" is only ever a name

    async def inspect_fresh(self, name: str) -> dict[str, Any] | None:
        """The container's inspect JSON as it is now (never from the cache), or None."""
        return await self._ask(f"/containers/{quote(name, safe='/')}/json", f"container {name!r}")

    async def inspect_volume(self, name: str) -> dict[str, Any] | None:
        """The volume's inspect JSON, or None if the daemon has no such volume."""
        return await self._cached(f"/volumes/{quote(name, safe='')}", f"volume {name!r}")

    async def _cached(
        self, target: str, what: str, absent: tuple[int, ...] = (404,)
    ) -> dict[str, Any] | None:
        now = time.monotonic()
        cached = self._cache.get(target)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        answer = await self._ask(target, f"inspecting {what}", absent)
        if len(self._cache) > 1024:
            self._cache.clear()
        self._cache[target] = (now, answer)
        return answer

    async def daemon_facts(self) -> DaemonFacts | None:
        """What the daemon says of itself, or None if it cannot be asked now.

        None is not an error: the checks that read these facts then take their strict
        form (fail closed). It is not cached, so the next request asks again.
        """
        async with self._daemon_lock:  # one look-up at a time; the others take its answer
            now = time.monotonic()
            if self._daemon is not None and now - self._daemon[0] < self.daemon_ttl:
                return self._daemon[1]
            try:
                version = await self._get_object("/version", "reading the daemon's version")
                info = await self._get_object("/info", "reading the daemon's info")
            except (InspectError, UpstreamError, trio.TooSlowError):
                return None
            facts = read_daemon_facts(version, info)
            self._daemon = (now, facts)
            return facts

    async def get_json(self, target: str, what: str) -> Any:
        """Any JSON the daemon answers to GET `target` with 200 (a list too). Raises
        InspectError, UpstreamError or trio.TooSlowError."""
        status, body = await self._get(target, what)
        if status != 200:
            raise InspectError(f"{what}: daemon answered {status}")
        try:
            return json.loads(body)
        except ValueError:
            raise InspectError(f"{what}: answer is not JSON") from None

    async def _ask(
        self, target: str, what: str, absent: tuple[int, ...] = (404,)
    ) -> dict[str, Any] | None:
        """The object, or None when the daemon answers one of the `absent` statuses."""
        status, body = await self._get(target, what)
        if status in absent:
            return None
        return _object(status, body, what)

    async def _get_object(self, target: str, what: str) -> dict[str, Any]:
        return _object(*await self._get(target, what), what)

    async def _get(self, target: str, what: str) -> tuple[int, bytes]:
        """One GET on a connection of its own: (status, body)."""
        stream = await connect(self.upstream)
        try:
            conn = h11.Connection(h11.CLIENT)
            request = h11.Request(
                method="GET",
                target=target,
                headers=[("Host", "sockspy"), ("Connection", "close")],
            )
            await stream.send_all(conn.send(request) + conn.send(h11.EndOfMessage()))
            return await _read_response(conn, stream)
        except (h11.ProtocolError, StreamClosed) as exc:
            raise InspectError(f"{what} failed: {exc}") from None
        finally:
            await stream.aclose()


# An image or network name the daemon refuses outright (400: an invalid reference, an
# ambiguous network name) names nothing: the request that names it fails at the daemon
# as it would directly (a tenant's `docker inspect NAME` gets the daemon's 400, and the
# CLI tries the next kind), where a failed look-up would be sockspy's 502.
_NAME_REFUSED = (404, 400)


def _object(status: int, body: bytes, what: str) -> dict[str, Any]:
    if status != 200:
        raise InspectError(f"{what}: daemon answered {status}")
    try:
        answer = json.loads(body)
    except ValueError:
        raise InspectError(f"{what}: answer is not JSON") from None
    if not isinstance(answer, dict):
        raise InspectError(f"{what}: answer is not an object")
    return answer


async def _read_response(conn: h11.Connection, stream: ByteStream) -> tuple[int, bytes]:
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
