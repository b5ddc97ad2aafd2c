"""The route table: every request gets the endpoint dockerd itself would run, or none."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sockspy.core.docker.routes import ROUTES, Route, RouteMatch, classify, split_version

# (method, path) -> (endpoint, params). Paths are decoded and unversioned, as classify takes them.
ROUTED = [
    # system
    ("GET", "/_ping", "system.ping", {}),
    ("HEAD", "/_ping", "system.ping", {}),
    ("GET", "/version", "system.version", {}),
    ("GET", "/info", "system.info", {}),
    ("GET", "/events", "system.events", {}),
    ("GET", "/system/df", "system.df", {}),
    ("POST", "/auth", "system.auth", {}),
    # containers: literals first, then the {name:.*} routes, whose names may hold "/"
    ("GET", "/containers/json", "container.list", {}),
    ("GET", "/containers/json/json", "container.inspect", {"name": "json"}),
    ("GET", "/containers/a/b/json", "container.inspect", {"name": "a/b"}),
    ("GET", "/containers/web/json", "container.inspect", {"name": "web"}),
    ("POST", "/containers/create", "container.create", {}),
    ("POST", "/containers/create/start", "container.start", {"name": "create"}),
    ("POST", "/containers/prune", "container.prune", {}),
    ("GET", "/containers/web/db/top", "container.top", {"name": "web/db"}),
    ("GET", "/containers/c1/logs", "container.logs", {"name": "c1"}),
    ("GET", "/containers/c1/changes", "container.changes", {"name": "c1"}),
    ("GET", "/containers/c1/export", "container.export", {"name": "c1"}),
    ("GET", "/containers/c1/stats", "container.stats", {"name": "c1"}),
    ("POST", "/containers/c1/resize", "container.resize", {"name": "c1"}),
    ("POST", "/containers/c1/start", "container.start", {"name": "c1"}),
    ("POST", "/containers/c1/stop", "container.stop", {"name": "c1"}),
    ("POST", "/containers/c1/restart", "container.restart", {"name": "c1"}),
    ("POST", "/containers/a/b/kill", "container.kill", {"name": "a/b"}),
    ("POST", "/containers/c1/update", "container.update", {"name": "c1"}),
    ("POST", "/containers/c1/rename", "container.rename", {"name": "c1"}),
    ("POST", "/containers/c1/pause", "container.pause", {"name": "c1"}),
    ("POST", "/containers/c1/unpause", "container.unpause", {"name": "c1"}),
    ("POST", "/containers/c1/attach", "container.attach", {"name": "c1"}),
    ("GET", "/containers/c1/attach/ws", "container.attach_ws", {"name": "c1"}),
    ("POST", "/containers/c1/wait", "container.wait", {"name": "c1"}),
    ("DELETE", "/containers/c1", "container.delete", {"name": "c1"}),
    ("DELETE", "/containers/web/db", "container.delete", {"name": "web/db"}),
    ("DELETE", "/containers/", "container.delete", {"name": ""}),
    ("HEAD", "/containers/c1/archive", "container.archive_head", {"name": "c1"}),
    ("HEAD", "/containers/a/b/archive", "container.archive_head", {"name": "a/b"}),
    ("GET", "/containers/c1/archive", "container.archive_get", {"name": "c1"}),
    ("PUT", "/containers/a/b/archive", "container.archive_put", {"name": "a/b"}),
    # exec
    ("POST", "/containers/web/db/exec", "exec.create", {"name": "web/db"}),
    ("POST", "/exec/e1/start", "exec.start", {"name": "e1"}),
    ("POST", "/exec/a/b/resize", "exec.resize", {"name": "a/b"}),
    ("GET", "/exec/a/b/json", "exec.inspect", {"id": "a/b"}),
    # checkpoints: registered before the container router, so a one-segment name deletes a
    # checkpoint and a longer one is a container name (dockerd 20.10: 501 vs "No such container")
    ("GET", "/containers/c1/checkpoints", "checkpoint.list", {"name": "c1"}),
    ("POST", "/containers/c1/checkpoints", "checkpoint.create", {"name": "c1"}),
    (
        "DELETE",
        "/containers/c1/checkpoints/cp1",
        "checkpoint.delete",
        {"name": "c1", "checkpoint": "cp1"},
    ),
    ("DELETE", "/containers/a/b/checkpoints/c", "container.delete", {"name": "a/b/checkpoints/c"}),
    # images
    ("GET", "/images/json", "image.list", {}),
    ("GET", "/images/get/json", "image.inspect", {"name": "get"}),
    ("GET", "/images/library/busybox:1.36/json", "image.inspect", {"name": "library/busybox:1.36"}),
    ("GET", "/images/search", "image.search", {}),
    ("GET", "/images/get", "image.save", {}),
    ("GET", "/images/a/b/get", "image.get", {"name": "a/b"}),
    ("GET", "/images/a/b/history", "image.history", {"name": "a/b"}),
    ("POST", "/images/create", "image.create", {}),
    ("POST", "/images/load", "image.load", {}),
    ("POST", "/images/prune", "image.prune", {}),
    ("POST", "/images/registry:5000/a/b/push", "image.push", {"name": "registry:5000/a/b"}),
    ("POST", "/images/a/b/tag", "image.tag", {"name": "a/b"}),
    ("DELETE", "/images/json", "image.delete", {"name": "json"}),
    ("DELETE", "/images/a/b", "image.delete", {"name": "a/b"}),
    ("POST", "/commit", "image.commit", {}),
    # build
    ("POST", "/build", "image.build", {}),
    ("POST", "/build/prune", "build.prune", {}),
    ("POST", "/build/cancel", "build.cancel", {}),
    ("POST", "/session", "session.start", {}),
    ("POST", "/grpc", "grpc.start", {}),
    # volumes
    ("GET", "/volumes", "volume.list", {}),
    ("GET", "/volumes/v1", "volume.inspect", {"name": "v1"}),
    ("GET", "/volumes/", "volume.inspect", {"name": ""}),
    ("POST", "/volumes/create", "volume.create", {}),
    ("POST", "/volumes/prune", "volume.prune", {}),
    ("PUT", "/volumes/v1", "volume.update", {"name": "v1"}),
    ("DELETE", "/volumes/a/b", "volume.delete", {"name": "a/b"}),
    # networks
    ("GET", "/networks", "network.list", {}),
    ("GET", "/networks/", "network.list", {}),
    ("GET", "/networks/x/y", "network.inspect", {"id": "x/y"}),
    ("POST", "/networks/create", "network.create", {}),
    ("POST", "/networks/prune", "network.prune", {}),
    ("POST", "/networks/a/b/connect", "network.connect", {"id": "a/b"}),
    ("POST", "/networks/n1/disconnect", "network.disconnect", {"id": "n1"}),
    ("DELETE", "/networks/n1", "network.delete", {"id": "n1"}),
    ("DELETE", "/networks/", "network.delete", {"id": ""}),
    # swarm: plain {id} variables stop at "/"
    ("GET", "/swarm", "swarm.inspect", {}),
    ("POST", "/swarm/init", "swarm.init", {}),
    ("POST", "/swarm/join", "swarm.join", {}),
    ("POST", "/swarm/leave", "swarm.leave", {}),
    ("POST", "/swarm/update", "swarm.update", {}),
    ("GET", "/swarm/unlockkey", "swarm.unlock_key", {}),
    ("POST", "/swarm/unlock", "swarm.unlock", {}),
    ("GET", "/services", "service.list", {}),
    ("POST", "/services/create", "service.create", {}),
    ("GET", "/services/s1", "service.inspect", {"id": "s1"}),
    ("POST", "/services/s1/update", "service.update", {"id": "s1"}),
    ("DELETE", "/services/s1", "service.delete", {"id": "s1"}),
    ("GET", "/services/s1/logs", "service.logs", {"id": "s1"}),
    ("GET", "/nodes", "node.list", {}),
    ("GET", "/nodes/n1", "node.inspect", {"id": "n1"}),
    ("POST", "/nodes/n1/update", "node.update", {"id": "n1"}),
    ("DELETE", "/nodes/n1", "node.delete", {"id": "n1"}),
    ("GET", "/tasks", "task.list", {}),
    ("GET", "/tasks/t1", "task.inspect", {"id": "t1"}),
    ("GET", "/tasks/t1/logs", "task.logs", {"id": "t1"}),
    ("GET", "/secrets", "secret.list", {}),
    ("POST", "/secrets/create", "secret.create", {}),
    ("GET", "/secrets/x1", "secret.inspect", {"id": "x1"}),
    ("POST", "/secrets/x1/update", "secret.update", {"id": "x1"}),
    ("DELETE", "/secrets/x1", "secret.delete", {"id": "x1"}),
    ("GET", "/configs", "config.list", {}),
    ("POST", "/configs/create", "config.create", {}),
    ("GET", "/configs/c1", "config.inspect", {"id": "c1"}),
    ("POST", "/configs/c1/update", "config.update", {"id": "c1"}),
    ("DELETE", "/configs/c1", "config.delete", {"id": "c1"}),
    # plugins
    ("GET", "/plugins", "plugin.list", {}),
    ("GET", "/plugins/privileges", "plugin.privileges", {}),
    ("GET", "/plugins/vieux/sshfs:latest/json", "plugin.inspect", {"name": "vieux/sshfs:latest"}),
    ("POST", "/plugins/pull", "plugin.pull", {}),
    ("POST", "/plugins/create", "plugin.create", {}),
    ("POST", "/plugins/pull/enable", "plugin.enable", {"name": "pull"}),
    ("POST", "/plugins/a/b/disable", "plugin.disable", {"name": "a/b"}),
    ("POST", "/plugins/p1/push", "plugin.push", {"name": "p1"}),
    ("POST", "/plugins/p1/upgrade", "plugin.upgrade", {"name": "p1"}),
    ("POST", "/plugins/p1/set", "plugin.set", {"name": "p1"}),
    ("DELETE", "/plugins/a/b", "plugin.delete", {"name": "a/b"}),
    # distribution
    ("GET", "/distribution/docker.io/library/busybox/json", "distribution.inspect",
     {"name": "docker.io/library/busybox"}),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "endpoint", "params"), ROUTED)
def test_request_is_named_after_the_route_dockerd_runs(
    method: str, path: str, endpoint: str, params: dict[str, str]
) -> None:
    match = classify(method, path)
    assert match is not None
    assert match.route.endpoint == endpoint
    assert dict(match.params) == params


def test_the_examples_above_reach_every_route_in_the_table() -> None:
    reached = set()
    for method, path, _, _ in ROUTED:
        match = classify(method, path)
        assert match is not None
        reached.add(match.route)
    assert reached == set(ROUTES)


# Requests dockerd answers with 404 "page not found" (no handler runs).
UNROUTED = [
    ("GET", "/"),
    ("GET", ""),
    ("GET", "/nope"),
    ("GET", "/containers"),
    ("GET", "/containers/"),
    ("GET", "/containers/c1"),  # only DELETE takes a bare container name
    ("GET", "/containers/create"),  # create is POST only
    ("GET", "/containers/c1/attach"),  # attach is POST; only attach/ws is GET
    ("POST", "/containers/c1/attach/ws"),
    ("POST", "/containers/c1/copy"),  # removed long before 20.10
    ("POST", "/containers/c1/logs/clear"),
    ("GET", "/containers/c1/checkpoints/"),
    ("GET", "/images/a/attestations"),
    ("GET", "/build"),
    ("GET", "/commit"),
    ("GET", "/auth"),
    ("POST", "/_ping"),
    ("HEAD", "/version"),  # HEAD only where registered
    ("HEAD", "/containers/json"),
    ("HEAD", "/containers/c1/json"),
    ("GET", "/swarm/"),
    ("GET", "/events/"),
    ("GET", "/system/df/x"),
    ("GET", "/services/"),
    ("GET", "/services/a/b"),  # {id} is one segment
    ("GET", "/secrets/a/b"),
    ("GET", "/nodes/n1/update"),
    ("GET", "/tasks/a/b/logs"),
    ("DELETE", "/services/a/b"),
    ("GET", "/distribution/json"),
    ("PATCH", "/containers/c1"),
    ("PUT", "/containers/c1"),
    ("PUT", "/volumes"),
    # Paths and methods are case-sensitive.
    ("GET", "/Containers/json"),
    ("GET", "/containers/c1/JSON"),
    ("get", "/containers/json"),
    ("Post", "/containers/create"),
    # Left out on purpose (see the module docstring): dockerd answers these without 404.
    ("OPTIONS", "/containers/json"),
    ("OPTIONS", "/anything"),
    ("GET", "/debug/pprof/"),
    ("POST", "/debug/vars"),
    # A version prefix is split_version's job: classify never sees one.
    ("GET", "/v1.41/containers/json"),
]


@pytest.mark.parametrize(("method", "path"), UNROUTED)
def test_request_without_a_dockerd_handler_has_no_route(method: str, path: str) -> None:
    assert classify(method, path) is None


def test_dot_stops_at_a_newline_as_in_go_but_a_segment_variable_does_not() -> None:
    # dockerd 20.10: /containers/a%0Ab/json is "page not found", /services/a%0Ab reaches swarm.
    assert classify("GET", "/containers/a\nb/json") is None
    assert classify("GET", "/containers/ab\n/json") is None
    match = classify("GET", "/services/a\nb")
    assert match is not None
    assert match.route.endpoint == "service.inspect"
    assert match.params == {"id": "a\nb"}


def test_trailing_newline_does_not_match_an_anchored_pattern() -> None:
    # Python's "$" would accept a trailing "\n"; Go's anchors (and fullmatch) do not.
    assert classify("GET", "/containers/json\n") is None
    assert classify("GET", "/_ping\n") is None


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1.41/containers/json", ("1.41", "/containers/json")),
        ("/v1.41.0/x", ("1.41.0", "/x")),
        ("/v01.041/x", ("01.041", "/x")),
        ("/v1/_ping", ("1", "/_ping")),
        ("/v1.41/", ("1.41", "/")),
        ("/v1.41/v1.40/info", ("1.41", "/v1.40/info")),  # one prefix only: then a 404
        ("/v./_ping", (".", "/_ping")),  # routed by mux; rejected later by the version check
        ("/v1.41", (None, "/v1.41")),  # dockerd: 404
        ("/_ping", (None, "/_ping")),
        ("/version", (None, "/version")),
        ("/volumes", (None, "/volumes")),
        ("/v/x", (None, "/v/x")),
        ("/vx/x", (None, "/vx/x")),
        ("/v1x/x", (None, "/v1x/x")),
        ("/V1.41/x", (None, "/V1.41/x")),
        ("v1.41/x", (None, "v1.41/x")),
        ("", (None, "")),
    ],
)
def test_version_prefix_is_split_the_way_dockerds_matcher_reads_it(
    path: str, expected: tuple[str | None, str]
) -> None:
    assert split_version(path) == expected


def test_versioned_path_routes_like_the_bare_one() -> None:
    version, rest = split_version("/v1.41/containers/web/db/exec")
    match = classify("POST", rest)
    assert version == "1.41"
    assert match is not None
    assert (match.route.endpoint, dict(match.params)) == ("exec.create", {"name": "web/db"})


def test_each_method_and_pattern_is_registered_once() -> None:
    keys = [(r.method, r.pattern) for r in ROUTES]
    assert len(keys) == len(set(keys))


def test_an_endpoint_name_names_one_route_except_the_documented_aliases() -> None:
    routes_by_name: defaultdict[str, set[tuple[str, str]]] = defaultdict(set)
    for r in ROUTES:
        routes_by_name[r.endpoint].add((r.method, r.pattern))
    shared = {name: keys for name, keys in routes_by_name.items() if len(keys) > 1}
    assert shared == {
        "system.ping": {("GET", "/_ping"), ("HEAD", "/_ping")},
        "network.list": {("GET", "/networks"), ("GET", "/networks/")},
    }


def test_endpoint_names_are_lowercase_object_dot_snake_case_action() -> None:
    for r in ROUTES:
        assert re.fullmatch(r"[a-z]+\.[a-z]+(_[a-z]+)*", r.endpoint), r.endpoint


def test_routes_use_only_the_methods_dockerd_registers() -> None:
    assert {r.method for r in ROUTES} == {"GET", "POST", "PUT", "DELETE", "HEAD"}
    heads = {r.pattern for r in ROUTES if r.method == "HEAD"}
    assert heads == {"/_ping", "/containers/{name:.*}/archive"}


def test_hijacking_routes_are_exactly_attach_exec_start_session_and_grpc() -> None:
    hijacking = {(r.endpoint, r.method, r.pattern) for r in ROUTES if r.hijacks}
    assert hijacking == {
        ("container.attach", "POST", "/containers/{name:.*}/attach"),
        # A websocket handshake: dockerd hijacks the connection behind its 101 too.
        ("container.attach_ws", "GET", "/containers/{name:.*}/attach/ws"),
        ("exec.start", "POST", "/exec/{name:.*}/start"),
        ("session.start", "POST", "/session"),
        ("grpc.start", "POST", "/grpc"),
    }


def test_the_table_covers_every_router_dockerd_builds() -> None:
    objects = {r.endpoint.split(".")[0] for r in ROUTES}
    assert objects == {
        "build", "checkpoint", "config", "container", "distribution", "exec", "grpc", "image",
        "network", "node", "plugin", "secret", "service", "session", "swarm", "system", "task",
        "volume",
    }  # fmt: skip
    assert len(ROUTES) == 113


# -- Equivalence with a plain first-match scan of the table ---------------------------------


def reference_regex(pattern: str) -> re.Pattern[str]:
    """gorilla/mux's template translation, written independently of the module's."""
    out = ""
    for literal, name, expr in re.findall(r"([^{]*)(?:\{(\w+)(?::([^}]*))?\})?", pattern):
        out += re.escape(literal)
        if name:
            out += f"(?P<{name}>{expr or '[^/]+'})"
    return re.compile(out)


REFERENCE = [(r, reference_regex(r.pattern)) for r in ROUTES]


def first_registered_match(method: str, path: str) -> RouteMatch | None:
    """What gorilla/mux does: the first route, in registration order, matching both."""
    for route, regex in REFERENCE:
        if route.method == method:
            match = regex.fullmatch(path)
            if match is not None:
                return RouteMatch(route, match.groupdict())
    return None


def fill(route: Route, name: str) -> str:
    return re.sub(r"\{[^}]*\}", lambda _: name, route.pattern)


def test_every_route_is_reachable() -> None:
    for route in ROUTES:
        match = classify(route.method, fill(route, "x1"))
        assert match is not None
        assert match.route is route


NAMES = st.one_of(
    st.sampled_from(["", "json", "create", "prune", "pull", "get", "a/b", "a/json", "x/archive"]),
    st.text(alphabet="ab/\n.:_-", max_size=8),
)


@given(
    route=st.sampled_from(ROUTES),
    name=NAMES,
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"]),
    suffix=st.sampled_from(["", "/", "/json", "/start", "x"]),
)
def test_classify_agrees_with_a_first_match_scan_of_the_table(
    route: Route, name: str, method: str, suffix: str
) -> None:
    path = fill(route, name) + suffix
    found = classify(method, path)
    expected = first_registered_match(method, path)
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert found.route is expected.route
        assert dict(found.params) == dict(expected.params)


def test_match_params_are_read_only() -> None:
    match = classify("GET", "/containers/a/json")
    assert match is not None
    with pytest.raises(TypeError):
        match.params["name"] = "b"  # type: ignore[index]
