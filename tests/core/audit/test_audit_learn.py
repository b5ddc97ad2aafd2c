"""Learning a policy from records: endpoints seen are allowed, host access never is."""

from __future__ import annotations

from sockspy.core.audit.learn import learn
from sockspy.core.audit.replay import replay
from sockspy.policy.engine import PolicyGate
from sockspy.policy.load import parse_policy

CI = {"front": "unix:///s", "peer_uid": 1001, "peer_user": "ci", "peer_exe": "/usr/bin/runner"}


def exchange(endpoint: str, method: str, target: str, **more: object) -> dict[str, object]:
    return {"event": "exchange", **CI, "endpoint": endpoint, "method": method,
            "target": target, "decision": "allow", **more}  # fmt: skip


RECORDS = [
    exchange("container.list", "GET", "/v1.41/containers/json"),
    exchange("container.create", "POST", "/v1.41/containers/create",
             summary={"binds": ["/srv/work:/w", "/:/host"],
                      "mounts": ["type=bind,src=/etc,dst=/e"]},
             findings=["host_bind"]),
    {"event": "exchange", "front": "tcp://x", "client_ip": "10.0.0.8", "endpoint": "system.ping",
     "method": "GET", "target": "/_ping", "decision": "allow"},
    exchange("unknown", "GET", "/debug/pprof", decision="deny"),
]  # fmt: skip


def test_each_uid_gets_the_endpoints_it_used_and_host_access_stays_denied() -> None:
    text = learn(RECORDS, "uid")
    policy = parse_policy(text, "learnt.toml")  # what `sockspy check` reads
    assert [p.name for p in policy.profiles] == ["uid-ci", "net-10.0.0.8"]
    assert policy.profiles[0].uids == (1001,)
    rules = {rule.name: rule for rule in policy.rules}
    assert rules["uid-ci-seen"].endpoints == ("container.create", "container.list")
    assert rules["uid-ci-no-host-access"].if_findings == ("host_access",)
    assert '# if_findings = ["host_bind"]' in text  # seen: for review, not allowed
    assert policy.host_access.allowed_bind_paths == ()  # never learnt: a person lists them
    assert '# allowed_bind_paths = ["/", "/etc", "/srv/work"]' in text


def test_a_client_the_chosen_fact_misses_is_profiled_by_the_next_fact_not_left_to_default() -> None:
    policy = parse_policy(learn(RECORDS, "uid"), "learnt.toml")
    tcp = {p.name: p for p in policy.profiles}["net-10.0.0.8"]
    assert [str(n) for n in tcp.cidrs] == ["10.0.0.8/32"]
    by_cert = parse_policy(learn(RECORDS, "cert"), "learnt.toml")
    assert [p.name for p in by_cert.profiles] == ["uid-ci", "net-10.0.0.8"]  # no cert: uid


def test_clients_no_fact_identifies_get_no_rule_that_would_reach_every_unseen_client() -> None:
    nobody = {"event": "exchange", "front": "fd://", "endpoint": "container.list",
              "method": "GET", "target": "/containers/json", "decision": "allow"}  # fmt: skip
    text = learn([nobody, RECORDS[0]], "uid")
    policy = parse_policy(text, "learnt.toml")
    assert [rule.name for rule in policy.rules] == ["uid-ci-no-host-access", "uid-ci-seen"]
    assert '# name = "default-seen"' in text
    gate = PolicyGate(policy)
    stranger = {**nobody, "peer_uid": 4242}  # what the unidentified client did
    [denied] = replay(gate, [stranger])
    assert denied.change == "newly denied"


def test_seen_bind_sources_are_cleaned_as_dockerd_cleans_them_and_never_allowed() -> None:
    binds = ["/srv/../etc:/e", "//var/run/docker.sock:/s", "/srv/work/./:/w", "named:/n",
             "/home/u/.ssh:/k:ro"]  # fmt: skip
    mounts = ["type=bind,src=/proc/../root,dst=/r"]
    summary = {"binds": binds, "mounts": mounts}
    create = exchange("container.create", "POST", "/containers/create", summary=summary)
    text = learn([create], "uid")
    assert parse_policy(text, "learnt.toml").host_access.allowed_bind_paths == ()
    seen = '"/etc", "/home/u/.ssh", "/root", "/srv/work", "/var/run/docker.sock"'
    assert f"# allowed_bind_paths = [{seen}]" in text


def test_what_a_learnt_policy_was_learnt_from_replays_without_a_denial() -> None:
    plain = [r for r in RECORDS if "findings" not in r and r["endpoint"] != "unknown"]
    gate = PolicyGate(parse_policy(learn(plain, "uid")))
    assert [r.change for r in replay(gate, plain)] == [None, None]
    hostile = exchange("exec.create", "POST", "/v1.41/containers/db/exec")
    [denied] = replay(gate, [hostile])
    assert denied.change == "newly denied"
