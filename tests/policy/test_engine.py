"""The engine: first match wins, default deny, profiles, modes, canonical refusals first."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from policy.policy_requests import make_client, make_request
from support.deciding import asked_by

from sockspy.core.deciding.client import Client, PeerCred, PeerProcess
from sockspy.core.deciding.decision import Decision
from sockspy.core.deciding.gate import Gate
from sockspy.core.deciding.judgement import NO_FACTS, Facts, Judgement, decide_offline
from sockspy.core.deciding.lookups import (
    InspectContainer,
    InspectVolume,
    Lookup,
    Procedure,
    ReadDaemonFacts,
)
from sockspy.core.docker.daemon import DaemonFacts
from sockspy.core.docker.gojson import BodyDecodeError
from sockspy.core.docker.request import Request
from sockspy.policy.engine import PolicyGate
from sockspy.policy.hostaccess import Finding, HostAccessOptions
from sockspy.policy.load import PolicyError, parse_policy
from sockspy.policy.model import Policy

ANYONE = make_client(uid=1000, gid=1000)


class FakeFindings:
    """Findings from the body's first bytes, so engine tests do not depend on hostaccess.
    Like hostaccess, it asks for what it needs: the daemon's defaults for "cgroupns", the
    volume "cache", and the container "web" of an archive download (then its volumes)."""

    def __init__(self) -> None:
        self.calls = 0

    def body_endpoints(self) -> frozenset[str]:
        return frozenset({"container.create", "exec.create"})

    def findings(self, request: Request, options: HostAccessOptions) -> Procedure[list[Finding]]:
        self.calls += 1
        body = request.body or b""
        if body == b"garbage":
            raise BodyDecodeError("request body is not valid JSON")
        found = []
        if b"privileged" in body:
            found.append(Finding("privileged", "privileged mode"))
        if b"cgroupns" in body:
            daemon = yield ReadDaemonFacts()
            if daemon is None or daemon.cgroup_version != "1":
                found.append(Finding("cgroupns_mode", "CgroupnsMode is 'host'"))
        if b"bind" in body:
            found.append(Finding("bind_mount", "bind mount of /etc"))
        if b"cache" in body:
            volume = yield InspectVolume("cache")
            if isinstance(volume, Mapping) and volume.get("Options"):
                found.append(Finding("local_volume_options", "volume 'cache' binds /etc"))
        if request.endpoint == "container.archive_get":
            web = yield InspectContainer("web")
            if isinstance(web, Mapping):
                for name in web.get("volumes", ()):
                    yield InspectVolume(name)
                if web.get("binds"):
                    found.append(Finding("target_container_host_access", "container web: binds"))
        return found


def gate(text: str, findings: FakeFindings | None = None) -> PolicyGate:
    return PolicyGate(parse_policy(text, "t.toml"), findings or FakeFindings())


def decide(
    g: PolicyGate, method: str, target: str, body: bytes | None = None, **who: Any
) -> Decision:
    client = make_client(**who) if who else ANYONE
    return decide_offline(g, make_request(method, target, body), client, NO_FACTS)


def lookups(
    g: Gate, request: Request, client: Client = ANYONE, book: Facts = NO_FACTS
) -> list[Lookup]:
    return asked_by(g, request, client, book)


def test_policy_gate_is_a_gate() -> None:
    g: Gate = gate("")
    assert g.wants_body(make_request("GET", "/info"), ANYONE) is False


def test_first_matching_rule_wins() -> None:
    g = gate(
        """
        [[rules]]
        name = "deny-create"
        action = "deny"
        endpoints = ["container.create"]
        [[rules]]
        name = "containers"
        action = "allow"
        endpoints = ["container.*"]
        """
    )
    denied = decide(g, "POST", "/v1.41/containers/create", b"{}")
    assert (denied.allowed, denied.rule, denied.code, denied.status) == (
        False,
        "deny-create",
        "rule_deny",
        403,
    )
    assert denied.reason == "container.create is denied"
    assert denied.outcome == "deny" and denied.profile == "default"
    allowed = decide(g, "GET", "/v1.41/containers/json")
    assert (allowed.allowed, allowed.rule, allowed.outcome) == (True, "containers", "allow")


def test_no_matching_rule_is_a_default_denial() -> None:
    denied = decide(gate(""), "GET", "/v1.41/info")
    assert (denied.allowed, denied.rule, denied.code) == (False, "default", "default_deny")
    assert denied.reason == "no rule allows system.info for profile default"


def test_a_deny_rule_message_is_the_reason() -> None:
    g = gate(
        "[[rules]]\n"
        'name = "no-exec"\n'
        'action = "deny"\n'
        'message = "no shells here"\n'
        'endpoints = ["exec.*"]\n'
    )
    assert decide(g, "POST", "/v1.41/containers/web/exec", b"{}").reason == "no shells here"


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("OPTIONS", "/v1.41/containers/json"),
        ("GET", "/debug/pprof/"),
        ("POST", "/debug/vars"),
        ("GET", "/nope"),
    ],
)
def test_requests_dockerd_does_not_route_are_denied_by_default(method: str, target: str) -> None:
    g = gate('[[rules]]\nname = "everything"\naction = "allow"\nendpoints = ["*"]\n')
    denied = decide(g, method, target)
    assert (denied.allowed, denied.rule, denied.code) == (False, "default", "default_deny")
    assert "(not an API endpoint)" in (denied.reason or "")


def test_unrouted_requests_are_matched_by_paths_or_by_rules_without_endpoints() -> None:
    g = gate(
        """
        [[rules]]
        name = "pprof"
        action = "allow"
        paths = ["/debug/pprof/*"]
        [[rules]]
        name = "options"
        action = "allow"
        methods = ["OPTIONS"]
        """
    )
    assert decide(g, "GET", "/debug/pprof/heap").rule == "pprof"
    assert decide(g, "OPTIONS", "/v1.41/anything").rule == "options"
    assert decide(g, "GET", "/debug/vars").allowed is False


def test_head_ping_is_the_ping_endpoint() -> None:
    g = gate('[[rules]]\nname = "ping"\naction = "allow"\nendpoints = ["system.ping"]\n')
    assert decide(g, "HEAD", "/_ping").allowed
    assert decide(g, "GET", "/v1.45/_ping").allowed


def test_a_rule_that_lists_get_also_matches_head_as_dockerd_serves_both() -> None:
    g = gate(
        '[[rules]]\nname = "reads"\naction = "allow"\nmethods = ["GET"]\n'
        'endpoints = ["system.ping", "container.archive_*"]\n'
    )
    assert decide(g, "HEAD", "/_ping").rule == "reads"
    assert decide(g, "HEAD", "/v1.45/containers/web/archive?path=/").rule == "reads"
    assert not decide(g, "PUT", "/v1.45/containers/web/archive?path=/").allowed


def test_method_conditions() -> None:
    g = gate(
        "[[rules]]\n"
        'name = "reads"\n'
        'action = "allow"\n'
        'methods = ["GET", "HEAD"]\n'
        'endpoints = ["container.*"]\n'
    )
    assert decide(g, "GET", "/containers/web/json").allowed
    assert decide(g, "HEAD", "/containers/web/archive?path=/").allowed
    assert not decide(g, "POST", "/containers/web/stop").allowed


def test_path_globs_match_the_decoded_path_without_version_and_cross_slashes() -> None:
    g = gate(
        """
        [[rules]]
        name = "no-exec"
        action = "deny"
        paths = ["/containers/*/exec"]
        [[rules]]
        name = "rest"
        action = "allow"
        """
    )
    assert decide(g, "POST", "/v1.41/containers/web/exec", b"{}").rule == "no-exec"
    # A legacy link name: the exec runs in container "web/db"; the glob must still catch it.
    assert decide(g, "POST", "/v1.41/containers/web/db/exec", b"{}").rule == "no-exec"
    # Percent-encoded letters reach dockerd decoded.
    assert decide(g, "POST", "/containers/web/%65xec", b"{}").rule == "no-exec"
    assert decide(g, "POST", "/containers/web/start").rule == "rest"


def test_query_conditions_use_gos_first_value_and_dockerds_booleans() -> None:
    g = gate(
        """
        [[rules]]
        name = "all-exact"
        action = "allow"
        endpoints = ["container.list"]
        query = { all = "1" }
        [[rules]]
        name = "force"
        action = "deny"
        endpoints = ["container.delete"]
        query_true = ["force"]
        [[rules]]
        name = "not-forced"
        action = "allow"
        endpoints = ["container.delete"]
        query_false = ["force"]
        """
    )
    assert decide(g, "GET", "/containers/json?all=1").rule == "all-exact"
    assert decide(g, "GET", "/containers/json?all=true").rule == "default"
    assert decide(g, "DELETE", "/containers/web?force=yes").rule == "force"
    # "off" is no false word for dockerd.
    assert decide(g, "DELETE", "/containers/web?force=off").rule == "force"
    assert decide(g, "DELETE", "/containers/web?force=FALSE").rule == "not-forced"
    assert decide(g, "DELETE", "/containers/web").rule == "not-forced"


NO_FORCE = """
[[rules]]
name = "no-force"
action = "deny"
query_true = ["force"]
[[rules]]
name = "rest"
action = "allow"
"""


def test_a_repeated_parameter_a_rule_reads_is_refused_in_every_mode() -> None:
    for mode in ("enforce", "warn", "audit"):
        g = gate(f'mode = "{mode}"\n' + NO_FORCE)
        refused = decide(g, "DELETE", "/containers/web?force=0&force=1")
        assert not refused.allowed
        assert (refused.status, refused.code, refused.rule) == (
            400,
            "repeated_query_parameter",
            "canonical",
        )
        # A parameter no rule reads may repeat.
        assert decide(g, "DELETE", "/containers/web?v=1&v=0").allowed


def test_a_repeat_is_refused_only_when_a_rule_reaches_the_parameter() -> None:
    g = gate(
        '[[rules]]\nname = "list"\naction = "allow"\nendpoints = ["container.list"]\n' + NO_FORCE
    )
    assert decide(g, "GET", "/containers/json?force=1&force=0").rule == "list"


@pytest.mark.parametrize("mode", ["warn", "audit"])
def test_warn_and_audit_modes_forward_denials_as_would_deny(mode: str) -> None:
    g = gate(
        f'mode = "{mode}"\n[[rules]]\nname = "no-exec"\naction = "deny"\nendpoints = ["exec.*"]\n'
    )
    denied = decide(g, "POST", "/containers/web/exec", b"{}")
    assert (denied.allowed, denied.outcome, denied.rule, denied.code) == (
        True,
        "would_deny",
        "no-exec",
        "rule_deny",
    )
    assert denied.outcome == "would_deny"
    default = decide(g, "GET", "/info")
    assert (default.allowed, default.outcome, default.rule) == (True, "would_deny", "default")


@pytest.mark.parametrize("mode", ["enforce", "warn", "audit"])
def test_canonical_refusals_are_enforced_in_every_mode(mode: str) -> None:
    g = gate(f'mode = "{mode}"\n[[rules]]\nname = "all"\naction = "allow"\n')
    too_old = decide(g, "GET", "/v1.12/info")
    assert (too_old.allowed, too_old.status, too_old.code, too_old.outcome) == (
        False,
        400,
        "api_version_too_old",
        "deny",
    )
    form = decide_offline(
        g,
        make_request(
            "POST",
            "/v1.41/containers/create",
            b"x=1",
            ["Content-Type: application/x-www-form-urlencoded"],
        ),
        ANYONE,
        NO_FACTS,
    )
    assert (form.allowed, form.status, form.code) == (False, 400, "form_body")


def test_min_api_version_comes_from_the_policy() -> None:
    g = gate('min_api_version = "1.40"\n[[rules]]\nname = "all"\naction = "allow"\n')
    assert decide(g, "GET", "/v1.39/info").code == "api_version_too_old"
    assert decide(g, "GET", "/v1.040/info").allowed


# -- profiles -------------------------------------------------------------------------------

PROFILES = """
[[profiles]]
name = "ci"
uids = [1001]
executables = ["/usr/bin/gitlab-runner"]
[[profiles]]
name = "ops"
gids = [50, 51]
[[profiles]]
name = "sidecar"
containers = ["abcd"]
[[profiles]]
name = "lan"
cidrs = ["10.0.0.0/8", "fd00::/8"]
[[profiles]]
name = "cert"
tls_names = ["client.example"]
[[rules]]
name = "who"
action = "deny"
"""


@pytest.mark.parametrize(
    ("who", "profile"),
    [
        ({"uid": 1001, "exe": "/usr/bin/gitlab-runner"}, "ci"),
        ({"uid": 1001, "exe": "/usr/bin/docker"}, "default"),  # all criteria must hold
        ({"uid": 1002, "exe": "/usr/bin/gitlab-runner"}, "default"),
        ({"uid": 7, "gid": 51}, "ops"),
        ({"uid": 1001, "gid": 50, "exe": "/usr/bin/gitlab-runner"}, "ci"),  # first match wins
        ({"uid": 0, "container": "abcdef" + "0" * 58}, "sidecar"),
        ({"uid": 0, "container": "abce" + "0" * 60}, "default"),
        ({"ip": "10.1.2.3"}, "lan"),
        ({"ip": "::ffff:10.1.2.3"}, "lan"),
        ({"ip": "fd12::1"}, "lan"),
        ({"ip": "192.168.1.1"}, "default"),
        ({"ip": "not-an-ip"}, "default"),
        ({"uid": 0}, "default"),
        ({"ip": "192.168.1.1", "tls_names": ("client.example",)}, "cert"),  # the CN
        ({"ip": "192.168.1.1", "tls_names": ("ci-1", "client.example")}, "cert"),  # a SAN
        ({"ip": "192.168.1.1", "tls_names": ("Client.example",)}, "default"),  # exact
        ({"ip": "10.1.2.3", "tls_names": ("client.example",)}, "lan"),  # first match wins
    ],
)
def test_profiles_are_chosen_from_the_client(who: dict[str, Any], profile: str) -> None:
    g = gate(PROFILES)
    assert g.profile_for(make_client(**who)) == profile
    assert decide(g, "GET", "/info", **who).profile == profile


def test_rules_can_be_limited_to_profiles() -> None:
    g = gate(
        """
        [[profiles]]
        name = "ci"
        uids = [1001]
        [[rules]]
        name = "ci-builds"
        action = "allow"
        profiles = ["ci"]
        endpoints = ["image.build"]
        [[rules]]
        name = "others-read"
        action = "allow"
        profiles = ["default"]
        endpoints = ["system.info"]
        """
    )
    assert decide(g, "POST", "/build", uid=1001).rule == "ci-builds"
    assert decide(g, "POST", "/build", uid=1000).rule == "default"
    assert decide(g, "GET", "/info", uid=1000).rule == "others-read"
    assert decide(g, "GET", "/info", uid=1001).rule == "default"


# -- findings -----------------------------------------------------------------------------------

FINDINGS = """
[[profiles]]
name = "trusted"
uids = [0]
[[rules]]
name = "trusted"
action = "allow"
profiles = ["trusted"]
[[rules]]
name = "no-privileged"
action = "deny"
if_findings = ["privileged"]
[[rules]]
name = "clean"
action = "allow"
endpoints = ["container.create", "container.archive_get"]
unless_findings = ["host_access"]
[[rules]]
name = "reads"
action = "allow"
endpoints = ["container.list"]
"""


def test_findings_decide_when_a_rule_reads_them() -> None:
    g = gate(FINDINGS)
    denied = decide(g, "POST", "/containers/create", b'{"privileged": true}')
    assert (denied.allowed, denied.rule, denied.code, denied.reason) == (
        False,
        "no-privileged",
        "host_access",
        "privileged mode",
    )
    assert decide(g, "POST", "/containers/create", b"{}").rule == "clean"
    # bind_mount is no "privileged" finding, but "host_access" means any finding.
    assert decide(g, "POST", "/containers/create", b'{"bind": 1}').rule == "default"


def test_a_deny_message_is_followed_by_the_findings() -> None:
    g = gate(
        "[[rules]]\n"
        'name = "nope"\n'
        'action = "deny"\n'
        'message = "no host access"\n'
        'if_findings = ["host_access"]\n'
    )
    assert decide(g, "POST", "/containers/create", b"privileged bind").reason == (
        "no host access (privileged mode; bind mount of /etc)"
    )


def test_an_undecodable_body_is_refused_in_every_mode() -> None:
    for mode in ("enforce", "audit"):
        g = gate(f'mode = "{mode}"\n' + FINDINGS)
        refused = decide(g, "POST", "/containers/create", b"garbage")
        assert (refused.allowed, refused.status, refused.code) == (False, 400, "undecodable_body")


def test_findings_are_computed_once_and_only_when_a_rule_reaches_them() -> None:
    fake = FakeFindings()
    g = gate(FINDINGS, fake)
    decide(g, "POST", "/containers/create", b"{}")  # no-privileged, then clean: one call
    assert fake.calls == 1
    decide(g, "POST", "/containers/create", b"garbage", uid=0)  # "trusted" decides first
    assert fake.calls == 1
    decide(g, "GET", "/containers/json")  # no-privileged names no endpoint: it reads them
    assert fake.calls == 2


def test_wants_body_only_for_body_endpoints_that_a_findings_rule_can_reach() -> None:
    g = gate(FINDINGS)
    assert g.wants_body(make_request("POST", "/containers/create"), ANYONE)
    assert not g.wants_body(make_request("GET", "/containers/json"), ANYONE)
    # Not a body endpoint of this finding source:
    assert not g.wants_body(make_request("POST", "/containers/web/start"), ANYONE)
    no_findings = gate('[[rules]]\nname = "all"\naction = "allow"\n')
    assert not no_findings.wants_body(make_request("POST", "/containers/create"), ANYONE)
    # A findings rule limited to another profile does not make the body wanted.
    limited = gate(
        '[[profiles]]\nname = "ci"\nuids = [1001]\n'
        '[[rules]]\nname = "x"\naction = "deny"\nprofiles = ["ci"]\nif_findings = ["privileged"]\n'
    )
    assert limited.wants_body(make_request("POST", "/containers/create"), make_client(uid=1001))
    assert not limited.wants_body(make_request("POST", "/containers/create"), make_client(uid=5))


def test_an_existing_container_is_looked_up_and_its_answer_decides() -> None:
    g = gate(FINDINGS)
    request = make_request("GET", "/containers/web/archive?path=/")
    assert lookups(g, request) == [InspectContainer("web")]
    binds = Facts(containers={"web": {"binds": True}})
    assert decide_offline(g, request, ANYONE, binds).rule == "default"
    assert decide_offline(g, request, ANYONE, Facts(containers={"web": {}})).rule == "clean"
    assert lookups(gate(""), request) == []


def test_nothing_is_looked_up_before_a_rule_that_reads_findings_is_reached() -> None:
    g = gate(FINDINGS)
    needs = make_request("POST", "/containers/create", b"cgroupns")
    assert lookups(g, needs) == [ReadDaemonFacts()]
    assert lookups(g, make_request("POST", "/containers/create", b"{}")) == []
    assert lookups(g, needs, make_client(uid=0)) == []  # "trusted" decides first
    assert lookups(gate(""), needs) == []
    limited = gate(
        '[[profiles]]\nname = "ci"\nuids = [1001]\n'
        '[[rules]]\nname = "x"\naction = "deny"\nprofiles = ["ci"]\nif_findings = ["privileged"]\n'
    )
    assert lookups(limited, needs, make_client(uid=1001)) == [ReadDaemonFacts()]
    assert lookups(limited, needs, make_client(uid=5)) == []
    # A body the checks cannot decode is refused; nothing is looked up for it.
    garbage = make_request("POST", "/containers/create", b"garbage")
    assert lookups(g, garbage) == []


def test_volumes_are_looked_up_where_a_findings_rule_reads_them_and_reach_the_findings() -> None:
    g = gate(FINDINGS)
    request = make_request("POST", "/containers/create", b"cache")
    assert lookups(g, request) == [InspectVolume("cache")]
    assert lookups(gate(""), request) == []
    archive = make_request("GET", "/containers/web/archive?path=/")
    web = Facts(containers={"web": {"volumes": ["data"]}})
    assert lookups(g, archive, book=web) == [InspectContainer("web"), InspectVolume("data")]
    bind_like = Facts(volumes={"cache": {"Driver": "local", "Options": {"o": "bind"}}})
    assert decide_offline(g, request, ANYONE, bind_like).rule == "default"
    assert decide_offline(g, request, ANYONE, Facts(volumes={"cache": None})).rule == "clean"


def test_a_look_up_asked_twice_is_answered_once() -> None:
    class Twice(FakeFindings):
        def findings(
            self, request: Request, options: HostAccessOptions
        ) -> Procedure[list[Finding]]:
            first = yield InspectContainer("web")
            second = yield InspectContainer("web")
            assert first is second
            return []

    assert lookups(gate(FINDINGS, Twice()), make_request("GET", "/containers/json")) == [
        InspectContainer("web")
    ]


def test_a_failed_look_up_denies_with_502_and_a_broken_rule_with_500() -> None:
    g = gate(FINDINGS)
    judgement = Judgement(g, make_request("POST", "/containers/create", b"cgroupns"), ANYONE)
    assert judgement.start() == ReadDaemonFacts()
    failed = judgement.failed("cannot reach the daemon to inspect: gone")
    assert (failed.allowed, failed.status, failed.code) == (False, 502, "inspect_failed")

    class Broken(FakeFindings):
        def findings(
            self, request: Request, options: HostAccessOptions
        ) -> Procedure[list[Finding]]:
            yield InspectContainer("web")
            raise KeyError("HostConfig")

    broken = decide(gate(FINDINGS, Broken()), "GET", "/containers/json")
    assert (broken.allowed, broken.status, broken.code) == (False, 500, "internal")
    assert "KeyError" in (broken.reason or "")


def test_daemon_facts_reach_the_findings() -> None:
    g = gate(FINDINGS)
    request = make_request("POST", "/containers/create", b"cgroupns")
    assert decide_offline(g, request, ANYONE, NO_FACTS).rule == "default"
    v1 = Facts(daemon=DaemonFacts(engine="Engine", version="20.10.24", cgroup_version="1"))
    assert decide_offline(g, request, ANYONE, v1).rule == "clean"


def test_a_body_endpoint_whose_body_was_not_buffered_is_refused() -> None:
    g = gate(FINDINGS)
    request = make_request("POST", "/containers/create", headers=["Content-Length: 2"])
    refused = decide_offline(g, request, ANYONE, NO_FACTS)
    assert (refused.allowed, refused.code) == (False, "undecodable_body")


def test_the_gate_carries_its_policy_body_limits_a_build_context_its_own() -> None:
    create, build = (
        make_request("POST", "/v1.41/containers/create"),
        make_request("POST", "/v1.41/build"),
    )
    limited = gate("max_body_bytes = 4096\nmax_build_context_bytes = 8192\n" + FINDINGS)
    assert (limited.body_limit(create), limited.body_limit(build)) == (4096, 8192)
    assert gate(FINDINGS).body_limit(create) == 1024 * 1024
    assert gate(FINDINGS).body_limit(build) == 64 * 1024 * 1024


def test_the_empty_policy_value_denies_everything() -> None:
    g = PolicyGate(Policy(), FakeFindings())
    assert decide(g, "GET", "/_ping").rule == "default"


def test_a_decision_carries_the_findings_it_was_reached_with() -> None:
    g = gate(FINDINGS)
    decision = decide(g, "POST", "/containers/create", b"privileged")
    assert (decision.rule, decision.profile) == ("no-privileged", "default")
    assert decision.findings == (Finding("privileged", "privileged mode"),)
    assert decide(g, "GET", "/_ping", uid=0).findings is None  # "trusted": none read


EXEC_NOT_STARTED = """
[[rules]]
name = "no-exec-start"
action = "deny"
message = "no shells"
endpoints = ["exec.start"]

[[rules]]
name = "rest"
action = "allow"
"""


def test_an_exec_create_whose_start_is_denied_is_denied_with_the_starts_rule() -> None:
    g = gate(EXEC_NOT_STARTED)
    denied = decide(g, "POST", "/v1.41/containers/web/exec", b"{}")
    assert (denied.allowed, denied.rule, denied.code) == (False, "no-exec-start", "rule_deny")
    assert denied.reason == "no shells (at exec.create: exec.start would be denied)"
    both = gate('[[rules]]\nname = "all"\naction = "allow"\n')
    assert decide(both, "POST", "/v1.41/containers/web/exec", b"{}").allowed
    # A start that only the daemon's facts could deny is left to the start itself.
    by_findings = gate(
        '[[rules]]\nname = "x"\naction = "deny"\nendpoints = ["exec.start"]\n'
        'if_findings = ["privileged"]\n[[rules]]\nname = "rest"\naction = "allow"\n'
    )
    assert decide(by_findings, "POST", "/v1.41/containers/web/exec", b"{}").allowed
    warn = gate('mode = "warn"\n' + EXEC_NOT_STARTED)
    assert decide(warn, "POST", "/v1.41/containers/web/exec", b"{}").outcome == "would_deny"


def test_a_create_is_not_judged_by_an_attach_it_may_never_make() -> None:
    # docker create sets AttachStdout too, and watchtower recreates from an inspect.
    g = gate(EXEC_NOT_STARTED.replace("exec.start", "container.attach"))
    attached = make_request("POST", "/v1.41/containers/create", b'{"AttachStdout":true}')
    assert decide_offline(g, attached, ANYONE, NO_FACTS).allowed


def test_profiles_select_on_the_login_uid_and_the_systemd_unit() -> None:
    g = gate(
        '[[profiles]]\nname = "alice"\nlogin_uids = [1000]\n'
        '[[profiles]]\nname = "runner"\nunits = ["gitlab-runner*.service"]\n'
        '[[rules]]\nname = "all"\naction = "allow"\n'
    )
    root = PeerCred(pid=1, uid=0, gid=0)

    def client(**process: Any) -> Client:
        return Client(front="unix:///s", peer=root, process=PeerProcess(**process))

    assert g.profile_for(client(login_uid=1000)) == "alice"  # sudo docker ...: still alice
    assert g.profile_for(client(login_uid=1001)) == "default"
    assert g.profile_for(client(unit="gitlab-runner-2.service")) == "runner"
    assert g.profile_for(client(unit="cron.service")) == "default"
    assert g.profile_for(Client(front="unix:///s", peer=root)) == "default"  # nothing known


AUDITED = """
[[profiles]]
name = "ops"
container_names = ["traefik*"]
record = "all"
record_required = true

[[rules]]
name = "ping"
action = "allow"
endpoints = ["system.ping"]
audit = "none"

[[rules]]
name = "exec"
action = "allow"
endpoints = ["exec.*"]
record = "output"

[[rules]]
name = "lists"
action = "allow"
endpoints = ["container.list"]
audit = "metadata"
"""


def test_a_decision_carries_its_rules_audit_level_and_transcript_mode() -> None:
    g = gate(AUDITED)
    assert decide(g, "GET", "/_ping").audit_level == "none"
    assert decide(g, "GET", "/containers/json").audit_level == "metadata"
    start = decide(g, "POST", "/exec/abc/start")
    assert (start.audit_level, start.transcript, start.transcript_required) == (
        "request",
        "output",
        False,
    )
    assert decide(g, "GET", "/info").audit_level == "request"  # the default denial


def test_container_names_select_a_profile_whose_transcripts_are_kept() -> None:
    g = gate(AUDITED)
    traefik = Client(front="tcp://127.0.0.1:2375", ip="172.17.0.5", port=4000,
                     container_id="ab" * 32, container_name="traefik-1")  # fmt: skip
    other = Client(front="tcp://127.0.0.1:2375", ip="172.17.0.6", port=4000,
                   container_id="cd" * 32, container_name="web")  # fmt: skip
    assert g.profile_for(traefik) == "ops" and g.profile_for(other) == "default"
    ping = decide_offline(g, make_request("GET", "/_ping"), traefik, NO_FACTS)
    assert (ping.transcript, ping.transcript_required) == ("all", True)


def test_audit_and_record_values_are_checked_at_load() -> None:
    with pytest.raises(PolicyError, match="audit 'loud' is not one of none, metadata, request"):
        parse_policy('[[rules]]\nname = "a"\naction = "allow"\naudit = "loud"\n', "t.toml")
    with pytest.raises(PolicyError, match="record 'video' is not one of output, all"):
        parse_policy('[[rules]]\nname = "a"\naction = "allow"\nrecord = "video"\n', "t.toml")
