"""Every preset loads, and allows what its tool really calls and nothing it should not."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from policy.policy_requests import make_client, make_request
from support.contexts import context
from support.deciding import EveryContainer

from sockspy.core.deciding.judgement import Facts, Judgement, decide_offline, settle
from sockspy.policy.engine import PolicyGate
from sockspy.policy.load import PolicyError, load_policy, parse_policy
from sockspy.policy.presets import PRESETS, load_preset, preset_text

CLIENT = make_client(uid=1000, gid=1000)
V = "/v1.45"  # what a current docker client sends


CLEAN = {"HostConfig": {"NetworkMode": "bridge"}, "Mounts": []}  # an inspect answer


def allowed(
    preset: str,
    method: str,
    target: str,
    body: bytes | None = None,
    inspect: Mapping[str, Any] | None = CLEAN,
) -> bool:
    """The decision, with every container the gate asks about answered by `inspect`."""
    gate = PolicyGate(load_preset(preset))
    request = make_request(method, target, body, ["Content-Type: application/json"] if body else ())
    if body is None and gate.wants_body(request, CLIENT):  # a build's: a plain Dockerfile
        request = request.with_body(context() if request.endpoint == "image.build" else b"")
    return settle(Judgement(gate, request, CLIENT), EveryContainer(inspect)).allowed


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_loads_and_names_its_source(name: str) -> None:
    policy = load_preset(name)
    assert policy.source == f"preset:{name}"
    assert policy.rules


def test_the_preset_list_is_what_the_folder_holds() -> None:
    assert PRESETS == (
        "readonly",
        "traefik",
        "portainer",
        "watchtower",
        "homepage",
        "ci-runner",
        "audit-only",
    )


def test_an_unknown_preset_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match="no preset is named 'nope'"):
        preset_text("nope")


def test_presets_are_reachable_through_configs_presets() -> None:
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "configs" / "presets"
    for name in PRESETS:
        assert load_policy(folder / f"{name}.toml").rules == load_preset(name).rules


TABLE: list[tuple[str, str, str, bool]] = [
    # readonly: look, never touch
    ("readonly", "HEAD", "/_ping", True),
    ("readonly", "GET", f"{V}/version", True),
    ("readonly", "GET", f"{V}/info", True),
    ("readonly", "GET", f"{V}/events?since=1", True),
    ("readonly", "GET", f"{V}/system/df", True),
    ("readonly", "GET", f"{V}/containers/json?all=1", True),
    ("readonly", "GET", f"{V}/containers/web/json", True),
    ("readonly", "GET", f"{V}/containers/web/logs?stdout=1", True),
    ("readonly", "GET", f"{V}/containers/web/stats?stream=0", True),
    ("readonly", "GET", f"{V}/images/json", True),
    ("readonly", "GET", f"{V}/images/busybox/json", True),
    ("readonly", "GET", f"{V}/networks", True),
    ("readonly", "GET", f"{V}/networks/bridge", True),
    ("readonly", "GET", f"{V}/volumes", True),
    ("readonly", "GET", f"{V}/volumes/data", True),
    ("readonly", "GET", f"{V}/containers/web/archive?path=/etc", False),
    ("readonly", "HEAD", f"{V}/containers/web/archive?path=/etc", False),
    ("readonly", "GET", f"{V}/containers/web/export", False),
    ("readonly", "GET", f"{V}/images/get?names=busybox", False),
    ("readonly", "POST", f"{V}/containers/web/attach?stream=1", False),
    ("readonly", "POST", f"{V}/containers/web/exec", False),
    ("readonly", "POST", f"{V}/containers/create", False),
    ("readonly", "POST", f"{V}/containers/web/stop", False),
    ("readonly", "DELETE", f"{V}/containers/web", False),
    ("readonly", "GET", f"{V}/swarm", False),
    ("readonly", "GET", f"{V}/secrets", False),
    ("readonly", "OPTIONS", f"{V}/containers/json", False),
    ("readonly", "GET", "/debug/pprof/cmdline", False),
    # traefik: docker provider, then swarm provider
    ("traefik", "HEAD", "/_ping", True),
    ("traefik", "GET", "/_ping", True),
    ("traefik", "GET", "/v1.24/version", True),
    ("traefik", "GET", "/v1.24/containers/json?all=1", True),
    ("traefik", "GET", "/v1.24/containers/3f4e8d9c/json", True),
    (
        "traefik",
        "GET",
        "/v1.24/events?filters=%7B%22type%22%3A%7B%22container%22%3Atrue%7D%7D",
        True,
    ),
    ("traefik", "GET", "/v1.24/services", True),
    (
        "traefik",
        "GET",
        "/v1.24/networks?filters=%7B%22scope%22%3A%7B%22swarm%22%3Atrue%7D%7D",
        True,
    ),
    ("traefik", "GET", "/v1.24/tasks?filters=x", True),
    ("traefik", "GET", "/v1.24/nodes/n1", True),
    ("traefik", "GET", "/v1.24/info", False),
    ("traefik", "GET", "/v1.24/images/json", False),
    ("traefik", "POST", "/v1.24/containers/create", False),
    ("traefik", "POST", "/v1.24/containers/web/exec", False),
    ("traefik", "GET", "/v1.24/containers/web/logs", False),
    ("traefik", "GET", "/v1.24/secrets", False),
    # homepage
    ("homepage", "GET", f"{V}/containers/json?all=1", True),
    ("homepage", "GET", f"{V}/containers/web/json", True),
    ("homepage", "GET", f"{V}/containers/web/stats?stream=false", True),
    ("homepage", "GET", f"{V}/version", True),
    ("homepage", "GET", f"{V}/info", True),
    ("homepage", "GET", f"{V}/containers/web/logs", False),
    ("homepage", "POST", f"{V}/containers/web/restart", False),
    ("homepage", "GET", f"{V}/images/json", False),
    # watchtower: list, inspect, pull, kill/stop, remove, create, re-network, start, rename, cleanup
    ("watchtower", "GET", f"{V}/containers/json?filters=x", True),
    ("watchtower", "GET", f"{V}/containers/web/json", True),
    ("watchtower", "GET", f"{V}/images/sha256:abc/json", True),
    ("watchtower", "POST", f"{V}/images/create?fromImage=nginx&tag=latest", True),
    ("watchtower", "POST", f"{V}/containers/web/kill?signal=SIGTERM", True),
    ("watchtower", "POST", f"{V}/containers/web/stop", True),
    ("watchtower", "DELETE", f"{V}/containers/web?force=1", True),
    ("watchtower", "POST", f"{V}/containers/create?name=web", True),
    ("watchtower", "POST", f"{V}/networks/front/disconnect", True),
    ("watchtower", "POST", f"{V}/networks/front/connect", True),
    ("watchtower", "POST", f"{V}/containers/abc/start", True),
    ("watchtower", "POST", f"{V}/containers/abc/rename?name=web", True),
    ("watchtower", "DELETE", f"{V}/images/sha256:abc?force=1", True),
    ("watchtower", "POST", f"{V}/containers/web/exec", False),
    ("watchtower", "POST", f"{V}/build", False),
    ("watchtower", "GET", f"{V}/containers/web/archive?path=/", False),
    ("watchtower", "POST", f"{V}/plugins/pull", False),
    # portainer: broad management
    ("portainer", "GET", f"{V}/containers/json?all=1", True),
    ("portainer", "POST", f"{V}/containers/create", True),
    ("portainer", "POST", f"{V}/containers/web/exec", True),
    ("portainer", "POST", f"{V}/exec/e1/start", True),
    ("portainer", "POST", f"{V}/images/create?fromImage=nginx", True),
    ("portainer", "POST", f"{V}/networks/create", True),
    ("portainer", "POST", f"{V}/volumes/create", True),
    ("portainer", "GET", f"{V}/services", True),
    ("portainer", "POST", f"{V}/secrets/create", True),
    ("portainer", "GET", f"{V}/plugins", True),
    ("portainer", "POST", f"{V}/plugins/pull?remote=x", False),
    ("portainer", "POST", f"{V}/plugins/x/enable", False),
    ("portainer", "DELETE", f"{V}/plugins/x", False),
    ("portainer", "POST", f"{V}/session", False),
    ("portainer", "POST", f"{V}/grpc", False),
    ("portainer", "OPTIONS", f"{V}/containers/json", False),
    ("portainer", "GET", "/debug/pprof/", False),
    # ci-runner
    ("ci-runner", "POST", f"{V}/images/create?fromImage=alpine", True),
    ("ci-runner", "POST", f"{V}/containers/create", True),
    ("ci-runner", "POST", f"{V}/containers/job/start", True),
    ("ci-runner", "POST", f"{V}/containers/job/attach?stream=1", True),
    ("ci-runner", "POST", f"{V}/containers/job/wait", True),
    ("ci-runner", "DELETE", f"{V}/containers/job?v=1", True),
    ("ci-runner", "POST", f"{V}/build?t=app", True),
    ("ci-runner", "POST", f"{V}/networks/create", True),
    ("ci-runner", "POST", f"{V}/volumes/create", True),
    ("ci-runner", "POST", f"{V}/auth", True),
    ("ci-runner", "GET", f"{V}/info", True),
    ("ci-runner", "POST", f"{V}/plugins/pull", False),
    ("ci-runner", "GET", f"{V}/plugins", False),
    ("ci-runner", "POST", f"{V}/swarm/init", False),
    ("ci-runner", "POST", f"{V}/services/create", False),
    ("ci-runner", "GET", f"{V}/secrets", False),
    ("ci-runner", "POST", f"{V}/session", False),
    ("ci-runner", "POST", f"{V}/grpc", False),
    ("ci-runner", "POST", f"{V}/containers/job/checkpoints", False),
    # audit-only: everything goes (recorded)
    ("audit-only", "POST", f"{V}/containers/create", True),
    ("audit-only", "POST", f"{V}/plugins/pull", True),
    ("audit-only", "OPTIONS", "/anything", True),
]


@pytest.mark.parametrize(("preset", "method", "target", "expected"), TABLE)
def test_preset_decisions(preset: str, method: str, target: str, expected: bool) -> None:
    body = (
        b"{}"
        if method == "POST" and target.split("?")[0].endswith(("/create", "/exec", "/start"))
        else None
    )
    assert allowed(preset, method, target, body) is expected


def test_every_preset_refuses_old_api_versions() -> None:
    for name in PRESETS:
        assert not allowed(name, "GET", "/v1.12/containers/json")


PRIVILEGED = b'{"Image": "alpine", "HostConfig": {"Privileged": true}}'
BIND_ETC = b'{"Image": "alpine", "HostConfig": {"Binds": ["/etc:/host-etc"]}}'
BIND_WORKSPACE = b'{"Image": "alpine", "HostConfig": {"Binds": ["/srv/ci-workspace/app:/app"]}}'
WITH_BINDS = {"HostConfig": {"Binds": ["/etc:/host-etc"]}, "Mounts": []}

FINDINGS_TABLE: list[tuple[str, str, str, bytes | None, Mapping[str, Any] | None, bool]] = [
    ("ci-runner", "POST", f"{V}/containers/create", PRIVILEGED, CLEAN, False),
    ("ci-runner", "POST", f"{V}/containers/create", BIND_ETC, CLEAN, False),
    ("ci-runner", "POST", f"{V}/containers/create", BIND_WORKSPACE, CLEAN, True),
    ("ci-runner", "POST", f"{V}/containers/job/exec", b'{"Cmd": ["sh"]}', WITH_BINDS, False),
    ("ci-runner", "POST", f"{V}/containers/job/exec", b'{"Cmd": ["sh"]}', CLEAN, True),
    ("ci-runner", "POST", f"{V}/containers/job/exec", b'{"Privileged": true}', CLEAN, False),
    ("ci-runner", "GET", f"{V}/containers/job/archive?path=/", None, WITH_BINDS, False),
    ("ci-runner", "GET", f"{V}/containers/job/archive?path=/", None, None, True),  # no such one
    ("ci-runner", "POST", f"{V}/build?networkmode=host", None, CLEAN, False),
    ("ci-runner", "POST", f"{V}/build?networkmode=default", None, CLEAN, True),
    ("ci-runner", "POST", f"{V}/volumes/create", b'{"Name": "cache"}', CLEAN, True),
    (
        "ci-runner",
        "POST",
        f"{V}/volumes/create",
        b'{"DriverOpts": {"o": "bind", "device": "/"}}',
        CLEAN,
        False,
    ),
    ("portainer", "POST", f"{V}/containers/create", PRIVILEGED, CLEAN, False),
    ("portainer", "POST", f"{V}/containers/create", BIND_WORKSPACE, CLEAN, False),
    ("portainer", "POST", f"{V}/containers/web/start", None, WITH_BINDS, False),
    ("portainer", "POST", f"{V}/containers/web/start", None, CLEAN, True),
    (
        "portainer",
        "POST",
        f"{V}/services/create",
        b'{"Name": "s", "TaskTemplate": {"ContainerSpec": {"Image": "x"}}}',
        CLEAN,
        True,
    ),
    ("watchtower", "POST", f"{V}/containers/create?name=web", BIND_ETC, CLEAN, False),
    ("watchtower", "POST", f"{V}/containers/web/start", None, WITH_BINDS, False),
]


@pytest.mark.parametrize(
    ("preset", "method", "target", "body", "inspect", "expected"), FINDINGS_TABLE
)
def test_preset_decisions_with_host_access_findings(
    preset: str,
    method: str,
    target: str,
    body: bytes | None,
    inspect: Mapping[str, Any] | None,
    expected: bool,
) -> None:
    assert allowed(preset, method, target, body, inspect) is expected


def test_a_container_the_gate_could_not_inspect_is_denied() -> None:
    gate = PolicyGate(load_preset("ci-runner"))
    request = make_request("GET", f"{V}/containers/job/archive?path=/")
    decision = decide_offline(gate, request, CLIENT, Facts())
    assert (decision.allowed, decision.rule) == (False, "no-host-access")
    assert "was not inspected" in (decision.reason or "")


def test_traefik_and_homepage_get_inspect_and_list_answers_without_env_or_mount_sources() -> None:
    for preset in ("traefik", "homepage"):
        gate = PolicyGate(load_preset(preset))
        for target in (f"{V}/containers/json?all=1", f"{V}/containers/web/json"):
            decision = decide_offline(gate, make_request("GET", target), CLIENT)
            assert decision.allowed and decision.redact == ("env", "mounts"), (preset, target)
        ping = decide_offline(gate, make_request("GET", f"{V}/_ping"), CLIENT)
        assert ping.allowed and ping.redact == ()
    traefik = PolicyGate(load_preset("traefik"))
    for target in (f"{V}/services", f"{V}/tasks"):  # they carry env values and sources too
        decision = decide_offline(traefik, make_request("GET", target), CLIENT)
        assert decision.allowed and decision.redact == ("env", "mounts"), target


def test_a_redacting_client_is_refused_what_cannot_be_redacted() -> None:
    gate = PolicyGate(
        parse_policy(
            '[[profiles]]\nname = "dash"\nuids = [1000]\nredact = ["env"]\n'
            '[[rules]]\nname = "all"\naction = "allow"\n'
        )
    )
    for target in (f"{V}/containers/web/top?ps_args=auxe", f"{V}/images/bb/history",
                   f"{V}/containers/web/logs?stdout=1", f"{V}/swarm"):  # fmt: skip
        decision = decide_offline(gate, make_request("GET", target), CLIENT)
        assert not decision.allowed and decision.code == "not_redactable", target
    networks = decide_offline(gate, make_request("GET", f"{V}/networks"), CLIENT)
    assert networks.allowed and networks.redact == ()  # nothing in them to redact


def test_a_ci_job_in_a_container_is_a_tenant_named_after_it_and_the_runner_is_not() -> None:
    from dataclasses import replace

    gate = PolicyGate(load_preset("ci-runner"))
    job = replace(CLIENT, container_id="ab" * 32, container_name="runner-x-project-1-build")
    listing = decide_offline(gate, make_request("GET", f"{V}/containers/json"), job)
    assert listing.allowed and listing.mutation is not None
    assert listing.mutation.added == "filter label=io.sockspy.owner=job-runner-x-project-1-build"
    runner = decide_offline(gate, make_request("GET", f"{V}/containers/json"), CLIENT)
    assert runner.allowed and runner.mutation is None
