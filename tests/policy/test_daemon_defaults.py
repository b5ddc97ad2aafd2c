"""Checks that depend on the daemon's own defaults: MaskedPaths and CgroupnsMode "host".

A request that sends back what the daemon stored (watchtower and Portainer recreate a
container from its inspected HostConfig) must pass on the daemon that stored it, and
nothing may pass where sockspy does not know the daemon.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from policy.policy_requests import make_client, make_request
from support.deciding import asked_by, daemon_facts_needed, findings

from sockspy.core.deciding.gate import AllowAll, DenyEndpoints
from sockspy.core.deciding.judgement import NO_FACTS, Facts, decide_offline
from sockspy.core.deciding.lookups import ReadDaemonFacts
from sockspy.core.docker.daemon import DaemonFacts, read_daemon_facts
from sockspy.core.docker.request import Request
from sockspy.policy.engine import PolicyGate
from sockspy.policy.hostaccess import HostAccessOptions
from sockspy.policy.hostconfig import (
    BASELINE_MASKED,
    NEWER_MASKED,
    cgroupns_host_is_default,
    default_masked_paths,
)
from sockspy.policy.presets import load_preset

DEFAULTS = HostAccessOptions()
POWERCAP = "/sys/devices/virtual/powercap"
INTERRUPTS = "/proc/interrupts"

# Recorded from dockerd 20.10.24 (Debian bookworm) on a cgroup v1 host, trimmed.
VERSION_20_10 = {
    "Platform": {"Name": ""},
    "Components": [
        {"Name": "Engine", "Version": "20.10.24+dfsg1", "Details": {"ApiVersion": "1.41"}},
        {"Name": "containerd", "Version": "1.6.20~ds1", "Details": {}},
    ],
    "Version": "20.10.24+dfsg1",
    "ApiVersion": "1.41",
    "MinAPIVersion": "1.12",
    "Os": "linux",
}
INFO_V1 = {
    "CgroupDriver": "cgroupfs",
    "CgroupVersion": "1",
    "SecurityOptions": ["name=seccomp,profile=default"],
    "ServerVersion": "20.10.24+dfsg1",
}


def moby(version: str, cgroup: str = "1", options: tuple[str, ...] | None = ()) -> DaemonFacts:
    return DaemonFacts("Engine", version, "1.41", cgroup, options)


V20_10_V1 = moby("20.10.24+dfsg1")


def create(host_config: dict[str, Any]) -> Request:
    body = json.dumps({"Image": "bb", "HostConfig": host_config}).encode()
    return make_request("POST", "/v1.41/containers/create", body)


def codes(request: Request, daemon: DaemonFacts | None) -> set[str]:
    return {f.code for f in findings(request, DEFAULTS, {}, daemon)}


# -- reading the daemon's answers ----------------------------------------------------------


def test_the_answers_of_dockerd_20_10_on_cgroup_v1() -> None:
    facts = read_daemon_facts(VERSION_20_10, INFO_V1)
    assert facts == DaemonFacts(
        "Engine", "20.10.24+dfsg1", "1.41", "1", ("name=seccomp,profile=default",)
    )
    assert facts.moby_release == (20, 10, 24)


def test_security_options_null_is_none_set_and_absent_is_unknown() -> None:
    assert read_daemon_facts(VERSION_20_10, {"SecurityOptions": None}).security_options == ()
    assert read_daemon_facts(VERSION_20_10, {}).security_options is None
    assert read_daemon_facts(VERSION_20_10, {"SecurityOptions": "x"}).security_options is None


@pytest.mark.parametrize(
    ("engine", "version", "release"),
    [
        ("Engine", "20.10.24+dfsg1", (20, 10, 24)),
        ("Engine", "28.0.2-rc.1", (28, 0, 2)),
        ("Engine", "24.0.7-0ubuntu2~22.04.1", (24, 0, 7)),
        ("Engine", "27.5.1", (27, 5, 1)),
        ("Engine", "1.13.1", None),  # before moby's year-based versions
        ("Engine", "dev", None),
        ("Engine", "master-dockerproject-2020-01-01", None),
        ("Engine", "20.10", None),
        ("Engine", "", None),
        ("Podman Engine", "4.9.3", None),  # a compatible API, not moby's defaults
        ("", "20.10.24", None),  # no engine component: not known to be dockerd
    ],
)
def test_moby_release(engine: str, version: str, release: tuple[int, int, int] | None) -> None:
    assert DaemonFacts(engine=engine, version=version).moby_release == release


def test_podman_is_not_read_as_moby() -> None:
    podman = {"Components": [{"Name": "Podman Engine"}], "Version": "4.9.3", "ApiVersion": "1.41"}
    facts = read_daemon_facts(podman, INFO_V1)
    assert facts.engine == "Podman Engine" and facts.moby_release is None
    assert default_masked_paths(facts) == BASELINE_MASKED | NEWER_MASKED
    assert not cgroupns_host_is_default(facts)


# -- MaskedPaths: the paths this daemon fills in ---------------------------------------------


@pytest.mark.parametrize(
    ("version", "added"),
    [
        ("19.03.15", set()),
        ("20.10.24+dfsg1", set()),
        ("20.10.26", set()),
        ("20.10.27", {POWERCAP}),  # GHSA-jq35-85cj-fj4p backported
        ("22.06.0-beta.0", {POWERCAP}),  # a line sockspy has no date for: strict
        ("23.0.7", set()),
        ("23.0.8", {POWERCAP}),
        ("24.0.6", set()),
        ("24.0.7", {POWERCAP}),
        ("25.0.0", {POWERCAP}),
        ("27.5.1", {POWERCAP}),
        ("28.0.1", {POWERCAP}),
        ("28.0.2", {POWERCAP, INTERRUPTS}),  # moby/moby#49560
        ("28.1.0", {POWERCAP, INTERRUPTS}),
        ("29.0.0", {POWERCAP, INTERRUPTS}),
    ],
)
def test_default_masked_paths_by_release(version: str, added: set[str]) -> None:
    assert default_masked_paths(moby(version)) == BASELINE_MASKED | added


def test_default_masked_paths_of_an_unknown_daemon_are_all_we_know() -> None:
    strict = BASELINE_MASKED | NEWER_MASKED
    assert default_masked_paths(None) == strict
    assert default_masked_paths(DaemonFacts()) == strict
    assert default_masked_paths(moby("dev")) == strict


def test_masked_paths_a_daemon_stored_pass_on_that_daemon() -> None:
    baseline = create({"MaskedPaths": sorted(BASELINE_MASKED)})
    assert codes(baseline, V20_10_V1) == set()
    assert codes(baseline, moby("20.10.27")) == {"masked_paths"}
    assert codes(baseline, moby("28.0.2")) == {"masked_paths"}
    assert codes(baseline, None) == {"masked_paths"}  # unknown daemon: strict


def test_masked_paths_still_must_keep_every_default_of_the_daemon() -> None:
    fewer = sorted(BASELINE_MASKED - {"/proc/kcore"})
    assert codes(create({"MaskedPaths": fewer}), V20_10_V1) == {"masked_paths"}
    assert codes(create({"MaskedPaths": []}), V20_10_V1) == {"masked_paths"}
    with_powercap = sorted(BASELINE_MASKED | {POWERCAP})
    assert codes(create({"MaskedPaths": with_powercap}), moby("27.5.1")) == set()
    message = [f.message for f in findings(create({"MaskedPaths": with_powercap}), DEFAULTS, {})]
    assert message == ["HostConfig.MaskedPaths leaves out /proc/interrupts"]


def test_readonly_paths_do_not_depend_on_the_daemon() -> None:
    assert codes(create({"ReadonlyPaths": ["/proc/sys"]}), V20_10_V1) == {"masked_paths"}


# -- CgroupnsMode "host": the daemon's default on cgroup v1 -----------------------------------


@pytest.mark.parametrize(
    ("daemon", "default"),
    [
        (V20_10_V1, True),
        (moby("28.0.2", "1", ("name=seccomp,profile=builtin",)), True),
        (moby("20.10.24", "1", ("name=cgroupns",)), False),  # --default-cgroupns-mode private
        (moby("20.10.24", "2"), False),  # cgroup v2: private is the default
        (moby("20.10.24", ""), False),  # no CgroupVersion in the answer
        (moby("20.10.24", "1", None), False),  # no SecurityOptions in the answer
        (DaemonFacts("Podman Engine", "4.9.3", "1.41", "1", ()), False),
        (None, False),
    ],
)
def test_cgroupns_host_is_default(daemon: DaemonFacts | None, default: bool) -> None:
    assert cgroupns_host_is_default(daemon) is default
    expected = set() if default else {"cgroupns_mode"}
    assert codes(create({"CgroupnsMode": "host"}), daemon) == expected


def test_cgroupns_other_than_host_is_judged_as_before() -> None:
    for daemon in (V20_10_V1, None):
        assert codes(create({"CgroupnsMode": "container:abc"}), daemon) == {"cgroupns_mode"}
        assert codes(create({"CgroupnsMode": "HOST"}), daemon) == {"cgroupns_mode"}
        assert codes(create({"CgroupnsMode": "private"}), daemon) == set()
        assert codes(create({"CgroupnsMode": ""}), daemon) == set()


def test_legacy_top_level_fields_are_judged_with_the_daemon_too() -> None:
    body = {"Image": "bb", "CgroupnsMode": "host", "MaskedPaths": sorted(BASELINE_MASKED)}
    request = make_request("POST", "/v1.41/containers/create", json.dumps(body).encode())
    assert daemon_facts_needed(request, DEFAULTS)
    assert codes(request, V20_10_V1) == set()
    assert codes(request, None) == {"cgroupns_mode", "masked_paths"}


# -- when the daemon is asked -------------------------------------------------------------


def test_daemon_facts_are_needed_only_for_a_body_that_the_defaults_decide() -> None:
    assert daemon_facts_needed(create({"CgroupnsMode": "host"}), DEFAULTS)
    assert daemon_facts_needed(create({"MaskedPaths": []}), DEFAULTS)
    assert not daemon_facts_needed(create({"MaskedPaths": None}), DEFAULTS)
    assert not daemon_facts_needed(create({"CgroupnsMode": "private"}), DEFAULTS)
    assert not daemon_facts_needed(create({"Privileged": True}), DEFAULTS)
    old_start = make_request("POST", "/v1.23/containers/web/start")
    assert daemon_facts_needed(old_start.with_body(b'{"CgroupnsMode": "host"}'), DEFAULTS)
    assert not daemon_facts_needed(old_start, DEFAULTS)
    exec_body = json.dumps({"Cmd": ["sh"], "MaskedPaths": []}).encode()
    assert not daemon_facts_needed(
        make_request("POST", "/v1.41/containers/web/exec", exec_body), DEFAULTS
    )


def test_gates_that_do_not_read_findings_never_ask() -> None:
    request = create({"CgroupnsMode": "host"})
    client = make_client(uid=1000)
    assert asked_by(AllowAll(), request, client) == []
    watchtower = PolicyGate(load_preset("watchtower"))
    assert ReadDaemonFacts() in asked_by(watchtower, request, client)
    assert ReadDaemonFacts() in asked_by(
        DenyEndpoints(["exec.create"], watchtower), request, client
    )
    assert asked_by(DenyEndpoints(["container.create"], watchtower), request, client) == []


# -- the case that found it ---------------------------------------------------------------


def inspected_host_config() -> dict[str, Any]:
    """The HostConfig dockerd 20.10 on cgroup v1 reports for `docker create bb true`."""
    return {
        "NetworkMode": "default",
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "LogConfig": {"Type": "json-file", "Config": {}},
        "CgroupnsMode": "host",
        "IpcMode": "private",
        "MaskedPaths": [
            "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
            "/sys/firmware",
        ],
        "ReadonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    }  # fmt: skip


def test_watchtower_recreates_a_container_from_its_inspected_host_config() -> None:
    gate = PolicyGate(load_preset("watchtower"))
    client = make_client(uid=1000)
    request = create(inspected_host_config())
    assert ReadDaemonFacts() in asked_by(gate, request, client)
    facts = Facts(daemon=read_daemon_facts(VERSION_20_10, INFO_V1), images={"bb": {}})
    assert decide_offline(gate, request, client, facts).allowed
    # Without the daemon's answers (or on cgroup v2) the same body is host access.
    assert not decide_offline(gate, request, client, NO_FACTS).allowed
    v2 = Facts(
        daemon=read_daemon_facts(VERSION_20_10, {**INFO_V1, "CgroupVersion": "2"}),
        images={"bb": {}},
    )
    denied = decide_offline(gate, request, client, v2)
    assert not denied.allowed and "CgroupnsMode" in (denied.reason or "")
