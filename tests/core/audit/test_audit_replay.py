"""Replay: a record keeps what its decision read, and a candidate policy decides it again
offline exactly as it would have live."""

from __future__ import annotations

import dataclasses
import json

from sockspy.core.audit.inputs import request_from
from sockspy.core.audit.replay import replay
from sockspy.core.deciding.client import Client, PeerCred
from sockspy.core.deciding.gate import GateInForce
from sockspy.core.deciding.judgement import Facts, decide_offline
from sockspy.core.deciding.lookups import Lookup
from sockspy.core.proxy.conversation import Conversation
from sockspy.policy.engine import PolicyGate
from sockspy.policy.load import parse_policy

CLIENT = Client(front="unix:///s", peer=PeerCred(7, 1001, 1001), exe="/usr/bin/docker")
WATCH = PolicyGate(parse_policy('mode = "audit"\n[[rules]]\nname = "all"\naction = "allow"\n'
                                'if_findings = ["host_access"]\n[[rules]]\nname = "rest"\n'
                                'action = "allow"\n'))  # fmt: skip
STRICT = PolicyGate(
    parse_policy(
        '[[profiles]]\nname = "ci"\nuids = [1001]\n'
        '[[rules]]\nname = "no-host"\naction = "deny"\nif_findings = ["host_access"]\n'
        '[[rules]]\nname = "ci"\naction = "allow"\nprofiles = ["ci"]\n'
    )
)


IMAGES = {"bb": {"Id": "sha256:" + "1" * 64, "Config": {"User": ""}, "RepoTags": ["bb:latest"]}}
THE_IMAGE = Facts(images=IMAGES)


def recorded(
    body: bytes,
    target: str = "/v1.41/containers/create",
    gate: PolicyGate = WATCH,
    facts: Facts = THE_IMAGE,
) -> dict[str, object]:
    """The exchange record of one request `gate` decided, the daemon answering `facts`."""
    conv = Conversation(1, CLIENT, GateInForce(gate), clock=lambda: 0.0, run_id="r")
    head = f"POST {target} HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n"
    conv.client_data((head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
    request = conv.pending_decision
    assert request is not None
    asked: list[tuple[Lookup, object]] = []

    class Recording(Facts):
        def answer(self, lookup: Lookup) -> object:  # the daemon, as the pump asks it
            answer = super().answer(lookup)
            asked.append((lookup, answer))
            return answer

    daemon = Recording(**{f.name: getattr(facts, f.name) for f in dataclasses.fields(facts)})
    conv.decided(decide_offline(gate, request, CLIENT, daemon), tuple(asked))
    conv.upstream_data(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}")
    [record] = [r for r in conv.records if r["event"] == "exchange"]
    return json.loads(json.dumps(record))  # as it comes back from the log


def test_a_record_rebuilds_the_request_its_decision_read_with_env_values_masked() -> None:
    record = recorded(b'{"Image":"bb","Env":["TOKEN=s3cret"],"HostConfig":{"Privileged":true}}')
    given = record["decision_input"]
    assert isinstance(given, dict)
    assert given["headers"]["content-type"] == "application/json"
    assert given["body"]["Env"] == ["TOKEN=***"] and "s3cret" not in json.dumps(record)
    assert record["findings"] == ["privileged"]
    request = request_from(record)
    assert request.endpoint == "container.create"
    assert request.decoded_body()["HostConfig"]["Privileged"] is True


def test_a_stricter_policy_denies_on_replay_what_it_would_have_denied_live() -> None:
    plain = recorded(b'{"Image":"bb"}')
    privileged = recorded(b'{"Image":"bb","HostConfig":{"Privileged":true}}')
    duplicate = recorded(b'{"Image":"bb","HostConfig":{"Privileged":false,"privileged":true}}')
    results = list(replay(STRICT, [plain, privileged, duplicate]))
    assert [r.change for r in results] == [None, "newly denied", "newly denied"]
    assert results[1].now.rule == "no-host" and results[1].now.profile == "ci"
    assert not any(r.approximate for r in results)


def test_a_record_without_its_input_replays_from_its_request_line_and_says_so() -> None:
    record = recorded(b'{"Image":"bb","HostConfig":{"Privileged":true}}')
    del record["decision_input"]
    [result] = replay(STRICT, [record])
    assert result.approximate and result.change == "newly denied"  # body unknown: closed


TENANT = PolicyGate(
    parse_policy(
        '[[profiles]]\nname = "team"\nuids = [1001]\nowner = "team-a"\n'
        '[[rules]]\nname = "all"\naction = "allow"\n'
    )
)
MINE = {"io.sockspy.owner": "team-a"}


def test_a_tenants_creates_replay_under_their_own_policy_as_they_were_decided() -> None:
    net = {"Id": "f" * 64, "Name": "n", "Labels": MINE}
    web = {"Id": "e" * 64, "Name": "/web", "Config": {"Labels": MINE}}
    cases = [
        ("/v1.41/containers/create", b'{"Image":"bb"}', Facts(images=IMAGES)),
        ("/v1.41/volumes/create", b'{"Name":"v"}', Facts(volumes={"v": None})),
        ("/v1.41/networks/create", b'{"Name":"n"}', Facts(networks={"n": None})),
        ("/v1.41/networks/n/connect", b'{"Container":"web"}',
         Facts(networks={"n": net}, containers={"web": web})),
    ]  # fmt: skip
    records = [recorded(body, target, TENANT, facts) for target, body, facts in cases]
    assert [r["decision"] for r in records] == ["allow"] * 4
    assert [r.get("mutated") for r in records] == [True, True, True, None]
    assert [(r.change, r.now.reason) for r in replay(TENANT, records)] == [(None, None)] * 4


def test_a_tenants_create_that_claimed_the_owner_label_replays_denied() -> None:
    forged = b'{"Image":"bb","labels":{"io.sockspy.owner":"team-b"}}'
    record = recorded(forged, gate=TENANT)
    assert record["decision"] == "deny" and record["code"] == "owner_label"
    [result] = replay(TENANT, [record])
    assert result.change is None and result.now.code == "owner_label"


def test_a_denial_for_want_of_an_answer_the_log_lacks_is_undecided_not_newly_denied() -> None:
    allow_all = PolicyGate(parse_policy('[[rules]]\nname = "all"\naction = "allow"\n'))
    record = recorded(b'{"Cmd":["sh"]}', "/v1.41/containers/web/exec", allow_all)
    assert "asked" not in (record.get("decision_input") or {})  # audit-only asks nothing
    [result] = replay(STRICT, [record])
    assert result.change == "undecided" and result.now.code == "host_access"
    assert [type(lookup).__name__ for lookup in result.unknown] == ["InspectContainer"]
    asked = recorded(b'{"Cmd":["sh"]}', "/v1.41/containers/web/exec", WATCH,
                     Facts(containers={"web": {"HostConfig": {"Privileged": True}}}))  # fmt: skip
    [known] = replay(STRICT, [asked])
    assert known.change == "newly denied" and not known.unknown


def test_a_record_keeps_a_bounded_part_of_a_large_request_and_replays_it_as_approximate() -> None:
    labels = {f"label{n}": "v" * 1000 for n in range(200)}  # 200 KiB of labels
    big = json.dumps({"Image": "bb", "Labels": labels, "HostConfig": {"Privileged": True}})
    record = recorded(big.encode())
    given = record["decision_input"]
    assert isinstance(given, dict) and given["omitted"] > 200_000 and "body" not in given
    assert len(json.dumps(record)) < 20_000
    [result] = replay(STRICT, [record])
    assert result.approximate and result.change == "newly denied"  # body unknown: closed
    long_target = "/v1.41/containers/json?filters=" + "x" * 100_000
    conv = Conversation(1, CLIENT, GateInForce(WATCH), clock=lambda: 0.0, run_id="r")
    conv.client_data(f"GET {long_target} HTTP/1.1\r\nHost: d\r\n\r\n".encode())
    conv.decided(decide_offline(WATCH, conv.pending_decision, CLIENT))  # type: ignore[arg-type]
    conv.upstream_data(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]")
    [listed] = [r for r in conv.records if r["event"] == "exchange"]
    assert listed["target_bytes"] == len(long_target) and len(listed["target"]) < 9000
    assert list(replay(STRICT, [listed])) == []  # a cut target is not rebuilt


def test_a_large_object_a_look_up_reads_does_not_make_every_record_large() -> None:
    huge = {"HostConfig": {}, "Config": {"Labels": {f"k{n}": "v" * 1000 for n in range(500)}}}
    record = recorded(b'{"Cmd":["sh"]}', "/v1.41/containers/web/exec", WATCH,
                      Facts(containers={"web": huge}))  # fmt: skip
    assert len(json.dumps(record)) < 20_000
    assert record["decision_input"]["omitted"] > 500_000  # type: ignore[index]
    [result] = replay(STRICT, [record])
    assert result.approximate  # what the decision read was not kept: said, not hidden
