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
    assert [p.name for p in policy.profiles] == ["uid-ci"]
    assert policy.profiles[0].uids == (1001,)
    rules = {rule.name: rule for rule in policy.rules}
    assert rules["uid-ci-seen"].endpoints == ("container.create", "container.list")
    assert rules["uid-ci-no-host-access"].if_findings == ("host_access",)
    assert rules["default-seen"].endpoints == ("system.ping",)
    assert '# if_findings = ["host_bind"]' in text  # seen: for review, not allowed
    assert policy.host_access.allowed_bind_paths == ("/srv/work",)  # not "/" nor /etc
    assert '# seen bound, and left out (they give the host away): ["/", "/etc"]' in text


def test_what_a_learnt_policy_was_learnt_from_replays_without_a_denial() -> None:
    plain = [r for r in RECORDS if "findings" not in r and r["endpoint"] != "unknown"]
    gate = PolicyGate(parse_policy(learn(plain, "uid")))
    assert [r.change for r in replay(gate, plain)] == [None, None]
    hostile = exchange("exec.create", "POST", "/v1.41/containers/db/exec")
    [denied] = replay(gate, [hostile])
    assert denied.change == "newly denied"
