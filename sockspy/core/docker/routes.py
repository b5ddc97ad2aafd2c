"""The one route table of the Docker Engine API, and the matcher that names a request's endpoint.

Theory of operation
-------------------
sockspy must decide on exactly what the daemon will execute, so it must route a request the
way dockerd does, not the way its documentation reads. dockerd routes with gorilla/mux:

* Every route is registered twice, as ``/v{version:[0-9.]+}`` + pattern and as the bare
  pattern. No pattern starts with ``/v<digit>``, so stripping a version prefix first
  (`split_version`) and then matching the bare pattern (`classify`) gives the same answer.
* A pattern variable written ``{name}`` matches one segment (``[^/]+``); one written with
  its own expression, as in ``{name:.*}``, matches that expression, and ``.*`` crosses
  ``/``. So ``/containers/web/db/exec`` creates an exec in the container named ``web/db``
  (a legacy link name). Never classify by splitting on ``/``.
* The route regexps are anchored at both ends and use Go's RE2 syntax. ``.`` does not
  match a newline there, nor in Python's ``re`` without DOTALL, so an encoded ``%0A``
  behaves the same in both: ``/containers/a%0Ab/json`` is a 404, ``/services/a%0Ab`` is not.
* Routes are tried in registration order and the first one whose path *and* method match
  wins; a route whose path matches under another method is skipped (mux remembers a
  method mismatch and answers 405, which dockerd maps to 404).

So `ROUTES` lists every route in dockerd's registration order: the routers in the order
``buildRouters`` (``initRouter`` in 20.10) builds them, and each router's routes in its
``initRoutes`` order. Only one pair of routes really overlaps:

* ``DELETE /containers/{name}/checkpoints/{checkpoint}`` and ``DELETE /containers/{name:.*}``.
  dockerd registers the checkpoint router *before* the container router ("or the DELETE
  gets masked", says the comment there), so a one-segment container name deletes a
  checkpoint, and ``/containers/a/b/checkpoints/c`` deletes the container
  ``a/b/checkpoints/c``. Checked against dockerd 20.10: the first answers 501 (checkpoints
  are experimental, the route is still registered), the second "No such container".

The others only look alike. ``/containers/json`` can't match ``/containers/{name:.*}/json``
(that needs a ``/`` before ``json``), so it lists containers, while ``/containers/json/json``
inspects a container named ``json``; the same goes for ``/images/json``, ``/images/get``,
``/images/create``, ``/networks/create``, ``/plugins/pull`` and ``/plugins/create``. The
literal ``GET /networks/`` is registered before ``/networks/{id:.+}``, which needs a non-empty id
anyway. Matching is per method: ``DELETE /images/json`` removes the image ``json``.

What the table leaves out, on purpose (`classify` gives None, so the caller refuses them):

* ``OPTIONS /{anyroute:.*}`` (system router): a CORS answer (200) for every path. No backend
  runs, and nothing in the Engine API is reached through it.
* ``/debug/*`` (debug router): pprof and expvar, any method, unversioned. They expose the
  daemon's command line and memory.
* Routes that dockerd no longer registers (``POST /containers/{name:.*}/copy`` was gone
  by 20.10).

Source: moby/moby ``api/server/router/<router>/<router>.go`` (20.10, API 1.41) and
``daemon/server/router/<router>/<router>.go`` (v28/v29, at commits ff14d7edf0a9, f74e5d48b3a8,
7a1e057fc0a8), plus the router order in ``cmd/dockerd/daemon.go``. The table is the union:
20.10 routes and the newer ones (``PUT /volumes/{name:.*}``, API 1.42). Orderings were
checked against a real dockerd 20.10.24.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True, slots=True)
class Route:
    """One route dockerd registers."""

    endpoint: str  # stable dotted name for audit logs and rules: "container.create"
    method: str  # "GET", "POST", "PUT", "DELETE" or "HEAD", exact case
    pattern: str  # dockerd's pattern text: "/containers/{name:.*}/attach"
    hijacks: bool  # the daemon takes over the connection (101, then raw bytes or websocket)
    # Which bodies sockspy reads is not a route fact: `sockspy.core.docker.bodies.BODY_SCHEMAS`.


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """The route dockerd would run, and the path variables it would see."""

    route: Route
    params: Mapping[str, str]  # {"name": "web/db"}; read-only


def _route(
    endpoint: str,
    method: str,
    pattern: str,
    *,
    hijacks: bool = False,
) -> Route:
    return Route(endpoint, method, pattern, hijacks=hijacks)


GET, POST, PUT, DELETE, HEAD = "GET", "POST", "PUT", "DELETE", "HEAD"

ROUTES: tuple[Route, ...] = (
    # -- checkpoint/checkpoint.go (experimental: registered always, 501 unless enabled).
    #    Registered before the container router, so it wins the DELETE overlap.
    _route("checkpoint.list", GET, "/containers/{name:.*}/checkpoints"),
    _route("checkpoint.create", POST, "/containers/{name:.*}/checkpoints"),
    _route("checkpoint.delete", DELETE, "/containers/{name}/checkpoints/{checkpoint}"),
    # -- container/container.go
    _route("container.archive_head", HEAD, "/containers/{name:.*}/archive"),
    _route("container.list", GET, "/containers/json"),
    _route("container.export", GET, "/containers/{name:.*}/export"),
    _route("container.changes", GET, "/containers/{name:.*}/changes"),
    _route("container.inspect", GET, "/containers/{name:.*}/json"),
    _route("container.top", GET, "/containers/{name:.*}/top"),
    _route("container.logs", GET, "/containers/{name:.*}/logs"),
    _route("container.stats", GET, "/containers/{name:.*}/stats"),
    # A websocket handshake: golang.org/x/net/websocket hijacks the connection after its 101.
    _route("container.attach_ws", GET, "/containers/{name:.*}/attach/ws", hijacks=True),
    _route("exec.inspect", GET, "/exec/{id:.*}/json"),
    _route("container.archive_get", GET, "/containers/{name:.*}/archive"),
    _route("container.create", POST, "/containers/create"),
    _route("container.kill", POST, "/containers/{name:.*}/kill"),
    _route("container.pause", POST, "/containers/{name:.*}/pause"),
    _route("container.unpause", POST, "/containers/{name:.*}/unpause"),
    _route("container.restart", POST, "/containers/{name:.*}/restart"),
    # API < 1.24 accepts a HostConfig body here, re-configuring the container.
    _route("container.start", POST, "/containers/{name:.*}/start"),
    _route("container.stop", POST, "/containers/{name:.*}/stop"),
    _route("container.wait", POST, "/containers/{name:.*}/wait"),
    _route("container.resize", POST, "/containers/{name:.*}/resize"),
    _route("container.attach", POST, "/containers/{name:.*}/attach", hijacks=True),
    _route("exec.create", POST, "/containers/{name:.*}/exec"),
    _route("exec.start", POST, "/exec/{name:.*}/start", hijacks=True),
    _route("exec.resize", POST, "/exec/{name:.*}/resize"),
    _route("container.rename", POST, "/containers/{name:.*}/rename"),
    _route("container.update", POST, "/containers/{name:.*}/update"),
    _route("container.prune", POST, "/containers/prune"),
    # Registered by the container router in 20.10 and v28+, by the image router in between;
    # one route either way. It makes an image, hence the name.
    _route("image.commit", POST, "/commit"),
    _route("container.archive_put", PUT, "/containers/{name:.*}/archive"),
    _route("container.delete", DELETE, "/containers/{name:.*}"),
    # -- image/image.go
    _route("image.list", GET, "/images/json"),
    _route("image.search", GET, "/images/search"),
    _route("image.save", GET, "/images/get"),  # a tarball of the images in ?names=
    _route("image.get", GET, "/images/{name:.*}/get"),  # a tarball of one image
    _route("image.history", GET, "/images/{name:.*}/history"),
    _route("image.inspect", GET, "/images/{name:.*}/json"),
    _route("image.load", POST, "/images/load"),
    _route("image.create", POST, "/images/create"),  # pull, or import with ?fromSrc=
    _route("image.push", POST, "/images/{name:.*}/push"),
    _route("image.tag", POST, "/images/{name:.*}/tag"),
    _route("image.prune", POST, "/images/prune"),
    _route("image.delete", DELETE, "/images/{name:.*}"),
    # -- system/system.go (its OPTIONS /{anyroute:.*} is left out: see the module docstring)
    _route("system.ping", GET, "/_ping"),
    _route("system.ping", HEAD, "/_ping"),  # alias: the same handler
    _route("system.events", GET, "/events"),
    _route("system.info", GET, "/info"),
    _route("system.version", GET, "/version"),
    _route("system.df", GET, "/system/df"),
    _route("system.auth", POST, "/auth"),
    # -- volume/volume.go
    _route("volume.list", GET, "/volumes"),
    _route("volume.inspect", GET, "/volumes/{name:.*}"),
    _route("volume.create", POST, "/volumes/create"),
    _route("volume.prune", POST, "/volumes/prune"),
    _route("volume.update", PUT, "/volumes/{name:.*}"),  # cluster volumes, API 1.42+
    _route("volume.delete", DELETE, "/volumes/{name:.*}"),
    # -- build/build.go
    _route("image.build", POST, "/build"),
    _route("build.prune", POST, "/build/prune"),
    _route("build.cancel", POST, "/build/cancel"),
    # -- session/session.go (BuildKit session over an upgraded connection)
    _route("session.start", POST, "/session", hijacks=True),
    # -- swarm/cluster.go
    _route("swarm.init", POST, "/swarm/init"),
    _route("swarm.join", POST, "/swarm/join"),
    _route("swarm.leave", POST, "/swarm/leave"),
    _route("swarm.inspect", GET, "/swarm"),
    _route("swarm.unlock_key", GET, "/swarm/unlockkey"),
    _route("swarm.update", POST, "/swarm/update"),
    _route("swarm.unlock", POST, "/swarm/unlock"),
    _route("service.list", GET, "/services"),
    _route("service.inspect", GET, "/services/{id}"),
    _route("service.create", POST, "/services/create"),
    _route("service.update", POST, "/services/{id}/update"),
    _route("service.delete", DELETE, "/services/{id}"),
    _route("service.logs", GET, "/services/{id}/logs"),
    _route("node.list", GET, "/nodes"),
    _route("node.inspect", GET, "/nodes/{id}"),
    _route("node.delete", DELETE, "/nodes/{id}"),
    _route("node.update", POST, "/nodes/{id}/update"),
    _route("task.list", GET, "/tasks"),
    _route("task.inspect", GET, "/tasks/{id}"),
    _route("task.logs", GET, "/tasks/{id}/logs"),
    _route("secret.list", GET, "/secrets"),
    _route("secret.create", POST, "/secrets/create"),
    _route("secret.delete", DELETE, "/secrets/{id}"),
    _route("secret.inspect", GET, "/secrets/{id}"),
    _route("secret.update", POST, "/secrets/{id}/update"),
    _route("config.list", GET, "/configs"),
    _route("config.create", POST, "/configs/create"),
    _route("config.delete", DELETE, "/configs/{id}"),
    _route("config.inspect", GET, "/configs/{id}"),
    _route("config.update", POST, "/configs/{id}/update"),
    # -- plugin/plugin.go (a plugin runs with host privileges: rules read these bodies)
    _route("plugin.list", GET, "/plugins"),
    _route("plugin.inspect", GET, "/plugins/{name:.*}/json"),
    _route("plugin.privileges", GET, "/plugins/privileges"),
    _route("plugin.delete", DELETE, "/plugins/{name:.*}"),
    _route("plugin.enable", POST, "/plugins/{name:.*}/enable"),
    _route("plugin.disable", POST, "/plugins/{name:.*}/disable"),
    _route("plugin.pull", POST, "/plugins/pull"),
    _route("plugin.push", POST, "/plugins/{name:.*}/push"),
    _route("plugin.upgrade", POST, "/plugins/{name:.*}/upgrade"),
    _route("plugin.set", POST, "/plugins/{name:.*}/set"),
    _route("plugin.create", POST, "/plugins/create"),
    # -- distribution/distribution.go
    _route("distribution.inspect", GET, "/distribution/{name:.*}/json"),
    # -- grpc/grpc.go (BuildKit over HTTP/2 on an upgraded connection; after network in v28+)
    _route("grpc.start", POST, "/grpc", hijacks=True),
    # -- network/network.go
    _route("network.list", GET, "/networks"),
    _route("network.list", GET, "/networks/"),  # alias: the same handler
    _route("network.inspect", GET, "/networks/{id:.+}"),
    _route("network.create", POST, "/networks/create"),
    _route("network.connect", POST, "/networks/{id:.*}/connect"),
    _route("network.disconnect", POST, "/networks/{id:.*}/disconnect"),
    _route("network.prune", POST, "/networks/prune"),
    _route("network.delete", DELETE, "/networks/{id:.*}"),
)

# -- Matching ------------------------------------------------------------------------------

# dockerd's versionMatcher is "/v{version:[0-9.]+}", followed by a route's pattern (which
# starts with "/"). "[0-9.]+" is all it checks: "/v1.41.0" and "/v01.041" route (the version
# middleware then parses them numerically), and so does "/v." (which the middleware rejects).
_VERSION_PREFIX: Final = re.compile(r"/v(?P<version>[0-9.]+)(?P<rest>/.*)", re.DOTALL)

# One gorilla/mux variable: "{name}" or "{name:expression}".
_VARIABLE: Final = re.compile(r"\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<expr>[^}]*))?\}")
_SEGMENT: Final = "[^/]+"  # gorilla/mux's default expression for a path variable


def _compile(pattern: str) -> re.Pattern[str]:
    """Turn a gorilla/mux path template into a regex for `re.fullmatch` (anchored both ends).

    The expressions dockerd uses (``.*``, ``.+``, ``[^/]+``) mean the same in RE2 and in
    Python, newline handling included.
    """
    parts: list[str] = []
    last = 0
    for variable in _VARIABLE.finditer(pattern):
        parts.append(re.escape(pattern[last : variable.start()]))
        parts.append(f"(?P<{variable['name']}>{variable['expr'] or _SEGMENT})")
        last = variable.end()
    parts.append(re.escape(pattern[last:]))
    return re.compile("".join(parts))


@dataclass(frozen=True, slots=True)
class _Candidate:
    prefix: str  # the literal text before the first variable: a cheap pre-filter
    regex: re.Pattern[str]
    route: Route


def _build_index() -> tuple[dict[str, dict[str, Route]], dict[str, tuple[_Candidate, ...]]]:
    """Index ROUTES per method: literal paths in a dict, patterns in registration order.

    A literal route goes in the dict only if a full scan in registration order finds it
    first for its own path (no earlier pattern masks it), so the fast path can never pick
    another route than gorilla/mux would. Paths not in the dict can match patterns only.
    """
    scans: dict[str, list[_Candidate]] = {}
    for route in ROUTES:
        prefix = route.pattern.split("{", 1)[0]
        candidate = _Candidate(prefix, _compile(route.pattern), route)
        scans.setdefault(route.method, []).append(candidate)
    literals: dict[str, dict[str, Route]] = {}
    patterns: dict[str, tuple[_Candidate, ...]] = {}
    for method, candidates in scans.items():
        fast = literals.setdefault(method, {})
        for candidate in candidates:
            path = candidate.route.pattern
            first = next(c for c in candidates if c.regex.fullmatch(path))
            if "{" not in path and first is candidate:
                fast[path] = candidate.route
        patterns[method] = tuple(c for c in candidates if c.route.pattern not in fast)
    return literals, patterns


_LITERALS, _PATTERNS = _build_index()
_NO_PARAMS: Final[Mapping[str, str]] = MappingProxyType({})
_NO_ROUTES: Final[Mapping[str, Route]] = MappingProxyType({})


def split_version(path: str) -> tuple[str | None, str]:
    """Strip dockerd's version prefix: ``'/v1.41/info'`` -> ``('1.41', '/info')``.

    Lenient like gorilla/mux: ``/v1.41.0`` and ``/v01.041`` are versions too. A prefix counts
    only when a ``/`` follows it (``/v1.41`` alone is a 404 in dockerd), so ``'/v1.41'``,
    ``'/v/x'``, ``'/vx/x'`` and ``'/_ping'`` come back unchanged with no version. The version
    text is returned as written; checking its value is the caller's job.
    """
    match = _VERSION_PREFIX.fullmatch(path)
    if match is None:
        return None, path
    return match["version"], match["rest"]


def classify(method: str, path: str) -> RouteMatch | None:
    """The route dockerd would run for `method` and `path`, or None if it would answer 404.

    `path` is percent-decoded and has no version prefix (see `split_version`). The method
    and the path are case-sensitive; HEAD matches only where a HEAD route is registered.
    Matching follows gorilla/mux: the first route in registration order whose method and
    pattern both match, ``{x:.*}`` crossing ``/``, ``{x}`` one segment. None also for the
    routes the table leaves out on purpose (OPTIONS, ``/debug/*``): see the module docstring.
    """
    route = _LITERALS.get(method, _NO_ROUTES).get(path)
    if route is not None:
        return RouteMatch(route, _NO_PARAMS)
    for candidate in _PATTERNS.get(method, ()):
        if path.startswith(candidate.prefix):
            match = candidate.regex.fullmatch(path)
            if match is not None:
                return RouteMatch(candidate.route, MappingProxyType(match.groupdict()))
    return None
