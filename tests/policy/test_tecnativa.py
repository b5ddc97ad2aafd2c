"""docker-socket-proxy's environment variables, decided like its haproxy.cfg (plus fixes)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from policy.policy_requests import make_client, make_request

from sockspy.core.deciding.judgement import NO_FACTS, decide_offline
from sockspy.core.docker.routes import ROUTES
from sockspy.policy.engine import PolicyGate
from sockspy.policy.load import PolicyError
from sockspy.policy.tecnativa import SECTION_DEFAULTS, SECTIONS, policy_from_env

CLIENT = make_client(ip="172.18.0.5")
V = "/v1.41"


def decide(env: Mapping[str, str], method: str, target: str) -> bool:
    policy = policy_from_env(env)
    assert policy is not None
    body = b"{}" if method in ("POST", "PUT") else None
    return decide_offline(
        PolicyGate(policy), make_request(method, target, body), CLIENT, NO_FACTS
    ).allowed


def test_no_variable_means_no_tecnativa_policy() -> None:
    assert policy_from_env({}) is None
    assert policy_from_env({"PATH": "/usr/bin", "LOG_LEVEL": "info", "SOCKET_PATH": "/x"}) is None


def test_the_sections_are_docker_socket_proxys() -> None:
    assert set(SECTIONS) == {
        "AUTH",
        "BUILD",
        "COMMIT",
        "CONFIGS",
        "CONTAINERS",
        "DISTRIBUTION",
        "EVENTS",
        "EXEC",
        "GRPC",
        "IMAGES",
        "INFO",
        "NETWORKS",
        "NODES",
        "PING",
        "PLUGINS",
        "SECRETS",
        "SERVICES",
        "SESSION",
        "SWARM",
        "SYSTEM",
        "TASKS",
        "VERSION",
        "VOLUMES",
    }
    assert {name for name, on in SECTION_DEFAULTS.items() if on} == {"EVENTS", "PING", "VERSION"}


def test_every_endpoint_is_in_exactly_one_section() -> None:
    endpoints = [e for names in SECTIONS.values() for e in names]
    assert sorted(endpoints) == sorted({route.endpoint for route in ROUTES})


@pytest.mark.parametrize(
    ("section", "endpoint"),
    [
        ("CONTAINERS", "exec.create"),  # /containers/{id}/exec: the prefix is /containers
        ("EXEC", "exec.start"),
        ("EXEC", "exec.inspect"),
        ("BUILD", "image.build"),
        ("BUILD", "build.prune"),
        ("COMMIT", "image.commit"),
        ("IMAGES", "image.create"),
        ("CONTAINERS", "checkpoint.delete"),
        ("PING", "system.ping"),
        ("SYSTEM", "system.df"),
        ("AUTH", "system.auth"),
        ("EVENTS", "system.events"),
    ],
)
def test_sections_follow_the_path_prefix(section: str, endpoint: str) -> None:
    assert endpoint in SECTIONS[section]


# (variables, method, target, allowed): what docker-socket-proxy decides, and sockspy's fixes.
TABLE: list[tuple[dict[str, str], str, str, bool]] = [
    # defaults: EVENTS, PING, VERSION
    ({"CONTAINERS": "0"}, "GET", "/_ping", True),
    ({"CONTAINERS": "0"}, "HEAD", "/_ping", True),
    ({"CONTAINERS": "0"}, "GET", f"{V}/version", True),
    ({"CONTAINERS": "0"}, "GET", f"{V}/events", True),
    ({"CONTAINERS": "0"}, "GET", f"{V}/containers/json", False),
    ({"CONTAINERS": "0"}, "GET", f"{V}/info", False),
    ({"PING": "0"}, "GET", "/_ping", False),
    ({"PING": "0"}, "HEAD", "/_ping", False),
    # a section, read-only without POST
    ({"CONTAINERS": "1"}, "GET", f"{V}/containers/json", True),
    ({"CONTAINERS": "1"}, "GET", f"{V}/containers/web/json", True),
    ({"CONTAINERS": "1"}, "GET", f"{V}/containers/web/logs", True),
    ({"CONTAINERS": "1"}, "POST", f"{V}/containers/create", False),
    ({"CONTAINERS": "1"}, "DELETE", f"{V}/containers/web", False),
    ({"CONTAINERS": "1"}, "GET", f"{V}/images/json", False),
    # POST=1 opens writes in the enabled sections only
    ({"CONTAINERS": "1", "POST": "1"}, "POST", f"{V}/containers/create", True),
    ({"CONTAINERS": "1", "POST": "1"}, "DELETE", f"{V}/containers/web", True),
    # The exec could never start (EXEC unset): its create is denied, where the CLI shows why.
    ({"CONTAINERS": "1", "POST": "1"}, "POST", f"{V}/containers/web/exec", False),
    ({"CONTAINERS": "1", "EXEC": "1", "POST": "1"}, "POST", f"{V}/containers/web/exec", True),
    ({"CONTAINERS": "1", "POST": "1"}, "POST", f"{V}/exec/e1/start", False),
    ({"CONTAINERS": "1", "EXEC": "1", "POST": "1"}, "POST", f"{V}/exec/e1/start", True),
    ({"CONTAINERS": "1", "POST": "1"}, "POST", f"{V}/images/create", False),
    ({"POST": "1"}, "POST", f"{V}/containers/create", False),
    # ALLOW_START / ALLOW_STOP / ALLOW_RESTARTS: without POST=1 (sockspy's fix)
    ({"ALLOW_START": "1"}, "POST", f"{V}/containers/web/start", True),
    ({"ALLOW_START": "1"}, "POST", f"{V}/containers/web/stop", False),
    ({"ALLOW_STOP": "1"}, "POST", f"{V}/containers/web/stop", True),
    ({"ALLOW_STOP": "1"}, "POST", f"{V}/containers/web/restart", False),
    ({"ALLOW_RESTARTS": "1"}, "POST", f"{V}/containers/web/stop", True),
    ({"ALLOW_RESTARTS": "1"}, "POST", f"{V}/containers/web/restart", True),
    ({"ALLOW_RESTARTS": "1"}, "POST", f"{V}/containers/web/kill", True),
    ({"ALLOW_RESTARTS": "1"}, "POST", f"{V}/containers/web/start", False),
    ({"ALLOW_RESTARTS": "1"}, "POST", f"{V}/containers/create", False),
    ({"ALLOW_START": "1"}, "GET", f"{V}/containers/json", False),  # CONTAINERS still 0
    # archive and export need their own variable (sockspy's choice)
    ({"CONTAINERS": "1"}, "GET", f"{V}/containers/web/archive?path=/", False),
    ({"CONTAINERS": "1"}, "HEAD", f"{V}/containers/web/archive?path=/", False),
    ({"CONTAINERS": "1"}, "GET", f"{V}/containers/web/export", False),
    ({"CONTAINERS": "1", "ALLOW_ARCHIVE": "1"}, "GET", f"{V}/containers/web/archive?path=/", True),
    ({"CONTAINERS": "1", "ALLOW_ARCHIVE": "1"}, "PUT", f"{V}/containers/web/archive?path=/", False),
    (
        {"CONTAINERS": "1", "ALLOW_ARCHIVE": "1", "POST": "1"},
        "PUT",
        f"{V}/containers/web/archive?path=/",
        True,
    ),
    ({"CONTAINERS": "1", "ALLOW_EXPORT": "1"}, "GET", f"{V}/containers/web/export", True),
    ({"ALLOW_ARCHIVE": "1"}, "GET", f"{V}/containers/web/archive?path=/", False),
    # what the prefix match let through and sockspy does not: requests dockerd does not route
    ({"CONTAINERS": "1", "POST": "1"}, "OPTIONS", f"{V}/containers/json", False),
    ({"CONTAINERS": "1", "POST": "1"}, "GET", "/debug/pprof/", False),
    # other sections
    ({"IMAGES": "1"}, "GET", f"{V}/images/json", True),
    ({"NETWORKS": "1"}, "GET", f"{V}/networks", True),
    ({"SERVICES": "1", "TASKS": "1", "NODES": "1"}, "GET", f"{V}/tasks", True),
    ({"INFO": "1"}, "GET", f"{V}/info", True),
    ({"SYSTEM": "1"}, "GET", f"{V}/system/df", True),
    ({"BUILD": "1", "POST": "1"}, "POST", f"{V}/build", True),
    ({"SESSION": "1", "POST": "1"}, "POST", f"{V}/session", True),
    ({"PLUGINS": "1"}, "GET", f"{V}/plugins", True),
    ({"SECRETS": "1"}, "GET", f"{V}/secrets", True),
    ({"AUTH": "1", "POST": "1"}, "POST", f"{V}/auth", True),
    ({"VERSION": "0"}, "GET", f"{V}/version", False),
]


@pytest.mark.parametrize(("env", "method", "target", "expected"), TABLE)
def test_tecnativa_decisions(env: dict[str, str], method: str, target: str, expected: bool) -> None:
    assert decide(env, method, target) is expected


def test_values_other_than_0_and_1_are_refused() -> None:
    with pytest.raises(PolicyError) as caught:
        policy_from_env({"CONTAINERS": "yes", "POST": "1", "EXEC": ""})
    assert [str(p) for p in caught.value.problems] == [
        "environment: CONTAINERS='yes': use 0 or 1",
        "environment: EXEC='': use 0 or 1",
    ]


def test_newer_template_variables_are_refused_not_ignored() -> None:
    with pytest.raises(PolicyError, match=r"ALLOW_EXEC .* is not supported"):
        policy_from_env({"CONTAINERS": "1", "ALLOW_EXEC": "0"})
    with pytest.raises(PolicyError, match="DELETE"):
        policy_from_env({"DELETE": "1"})


def test_denials_name_the_variable() -> None:
    policy = policy_from_env({"CONTAINERS": "1"})
    assert policy is not None
    gate = PolicyGate(policy)
    write = decide_offline(
        gate, make_request("POST", f"{V}/containers/create", b"{}"), CLIENT, NO_FACTS
    )
    assert (write.rule, write.reason) == (
        "tecnativa-post",
        "POST=0: only GET and HEAD requests are allowed",
    )
    archive = decide_offline(
        gate, make_request("GET", f"{V}/containers/w/archive?path=/"), CLIENT, NO_FACTS
    )
    assert (archive.rule, archive.reason) == (
        "tecnativa-archive",
        "container archive needs ALLOW_ARCHIVE=1",
    )
