"""Ownership: a tenant's creates carry its label, its lists are filtered by the daemon,
and every object it names must be its own, else it gets the daemon's own 404."""

from __future__ import annotations

import json
from typing import Any

import pytest
from policy.policy_requests import make_client, make_request
from support.contexts import context

from sockspy.core.deciding.client import Client
from sockspy.core.deciding.decision import Decision, Mutation
from sockspy.core.deciding.judgement import Facts, decide_offline
from sockspy.core.docker import schemas
from sockspy.core.docker.bodymembers import body_with_members
from sockspy.core.docker.gojson import decode_into
from sockspy.policy.engine import PolicyGate
from sockspy.policy.load import parse_policy

KEY = "io.sockspy.owner"
POLICY = """
mode = "{mode}"
[[profiles]]
name = "a"
uids = [1001]
owner = "uid-{{uid}}"
[[profiles]]
name = "cert"
tls_names = ["ci"]
owner = "cert-{{tls_cn}}"
[[profiles]]
name = "needs-cn"
uids = [1003]
owner = "cert-{{tls_cn}}"
[[rules]]
name = "everything"
action = "allow"
"""
A = make_client(uid=1001)
NOBODY = make_client(uid=1002)  # the default profile: no owner, sees everything


def container(
    owner: str | None, cid: str = "c0ffee" * 10 + "abcd", name: str = "/web"
) -> dict[str, Any]:
    labels = {KEY: owner} if owner else {}
    return {"Id": cid, "Name": name, "Config": {"Labels": labels}}


FACTS = Facts(
    containers={
        "mine": container("uid-1001", name="/mine"),
        "theirs": container("uid-2000", name="/theirs"),
        "plain": container(None, name="/plain"),
        "abc": container("uid-1001", cid="fed" * 21 + "a", name="/abc"),
        "c0ffee": container("uid-1001"),
        "taken": container("uid-2000", name="/taken"),
        "missing": None,
        "new1": None,
        "mine-exec-host": container("uid-1001"),
        "other-exec-host": container("uid-2000"),
    },
    execs={"e1": {"ContainerID": "mine-exec-host"}, "e2": {"ContainerID": "other-exec-host"}},
    volumes={
        "cache": {"Name": "cache", "Labels": {KEY: "uid-1001"}},
        "secret": {"Name": "secret", "Labels": {KEY: "uid-2000"}},
        "new": None,
        "v2": None,
    },
    networks={
        "bridge": {"Name": "bridge", "Id": "b" * 64, "Labels": {}},
        "n2": None,
        "net-a": {"Name": "net-a", "Id": "1" * 64, "Labels": {KEY: "uid-1001"}},
        "net-b": {"Name": "net-b", "Id": "2" * 64, "Labels": {KEY: "uid-2000"}},
        "1" * 64: {"Name": "net-a", "Id": "1" * 64, "Labels": {KEY: "uid-1001"}},
        "2" * 64: {"Name": "net-b", "Id": "2" * 64, "Labels": {KEY: "uid-2000"}},
    },
    images={
        "bb": {"Config": {"Labels": None}, "RepoTags": ["bb:latest"]},  # shared: pulled
        "built-b": {"Config": {"Labels": {KEY: "uid-2000"}}},
        "built-a": {"Config": {"Labels": {KEY: "uid-1001"}}},
        "app:1": None,
        "b:1": {"Config": {"Labels": {KEY: "uid-2000"}}},
        "bb:latest": {"Config": {"Labels": None}, "RepoTags": ["bb:latest"]},
        "4e63e9f9b7af": {"Config": {"Labels": None}, "RepoTags": [], "RepoDigests": []},
    },
)


def vars_of(facts: Facts) -> dict[str, Any]:
    return {name: getattr(facts, name) for name in Facts.__dataclass_fields__}


def decide(
    method: str,
    target: str,
    body: Any = None,
    client: Client = A,
    mode: str = "enforce",
    facts: Facts = FACTS,
) -> Decision:
    raw = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
    if raw is None and target.startswith("/build"):
        raw = context({"Dockerfile": b"FROM bb\n"})  # what the CLI sends: the context
    gate = PolicyGate(parse_policy(POLICY.format(mode=mode), "t.toml"))
    return decide_offline(gate, make_request(method, target, raw), client, facts)


def refused_as(decision: Decision, status: int, code: str) -> str:
    assert (decision.allowed, decision.status, decision.code) == (False, status, code), decision
    return decision.answer or ""


def test_a_create_gets_the_tenants_label_and_the_audit_says_so() -> None:
    decision = decide("POST", "/containers/create?name=new1", {"Image": "bb"})
    assert decision.allowed
    assert decision.mutation == Mutation(
        body_label=(KEY, "uid-1001"), added=f"label {KEY}=uid-1001"
    )
    for target, body in (("/volumes/create", {"Name": "v2"}), ("/networks/create", {"Name": "n2"})):
        mutation = decide("POST", target, body).mutation
        assert mutation is not None and mutation.body_label == (KEY, "uid-1001")


def test_lists_prunes_and_events_get_the_owner_filter_added_to_their_query() -> None:
    for method, target in (("GET", "/containers/json?all=1"), ("GET", "/volumes"),
                           ("GET", "/networks"), ("POST", "/containers/prune"),
                           ("POST", "/volumes/prune"), ("POST", "/images/prune"),
                           ("GET", "/events?since=1")):  # fmt: skip
        mutation = decide(method, target).mutation
        assert mutation is not None and mutation.query is not None, target
        name, value = mutation.query
        assert name == "filters" and json.loads(value) == {"label": {f"{KEY}=uid-1001": True}}


def test_a_repeated_filters_or_labels_parameter_is_refused_not_rewritten() -> None:
    # Go reads the first of two; which one the daemon filters by must not be in doubt.
    refused_as(
        decide("GET", "/containers/json?filters=%7B%7D&filters=%7B%7D"), 400, "undecodable_query"
    )
    refused_as(decide("POST", "/build?labels=%7B%7D&labels=%7B%7D"), 400, "undecodable_query")


def test_a_checkpoint_names_its_container() -> None:
    refused_as(decide("POST", "/containers/theirs/checkpoints"), 404, "not_owner")
    assert decide("GET", "/containers/mine/checkpoints").allowed


def test_a_build_gets_the_label_on_the_image_it_makes() -> None:
    mutation = decide("POST", "/build?t=app:1&labels=%7B%22a%22%3A%22b%22%7D").mutation
    assert mutation is not None and mutation.query is not None
    assert mutation.query[0] == "labels"
    assert json.loads(mutation.query[1]) == {"a": "b", KEY: "uid-1001"}


@pytest.mark.parametrize(
    ("method", "target"),
    [("GET", "/containers/theirs/json"), ("POST", "/containers/theirs/stop"),
     ("DELETE", "/containers/theirs"), ("POST", "/containers/theirs/exec"),
     ("GET", "/containers/theirs/logs?follow=1"), ("GET", "/containers/theirs/archive?path=/"),
     ("POST", "/containers/plain/start"), ("GET", "/containers/missing/json"),
     ("POST", "/commit?container=theirs")],
)  # fmt: skip
def test_another_tenants_container_looks_like_a_missing_one(method: str, target: str) -> None:
    answer = refused_as(decide(method, target), 404, "not_owner")
    assert answer.startswith("No such container: ")


def test_the_tenants_own_objects_are_allowed_unchanged() -> None:
    for method, target in (("GET", "/containers/mine/json"), ("POST", "/exec/e1/start"),
                           ("GET", "/volumes/cache"), ("GET", "/networks/net-a"),
                           ("GET", "/networks/bridge"), ("GET", "/images/bb/json"),
                           ("DELETE", "/images/built-a")):  # fmt: skip
        decision = decide(method, target)
        assert decision.allowed and decision.mutation is None, (target, decision)


def test_an_exec_is_the_tenants_only_if_its_container_is() -> None:
    assert refused_as(decide("POST", "/exec/e2/start"), 404, "not_owner") == (
        "No such exec instance: e2"
    )


def test_other_kinds_answer_with_the_daemons_own_not_found_messages() -> None:
    assert (
        refused_as(decide("GET", "/volumes/secret"), 404, "not_owner")
        == "get secret: no such volume"
    )
    assert (
        refused_as(decide("DELETE", "/networks/net-b"), 404, "not_owner")
        == "network net-b not found"
    )
    assert (
        refused_as(decide("GET", "/images/built-b/json"), 404, "not_owner")
        == "No such image: built-b"
    )


@pytest.mark.parametrize(
    "host_config",
    [{"VolumesFrom": ["theirs:ro"]}, {"NetworkMode": "container:theirs"},
     {"PidMode": "container:theirs"}, {"IpcMode": "container:theirs"},
     {"Links": ["/theirs:db"]}, {"Binds": ["secret:/data"]}, {"NetworkMode": "net-b"},
     {"Mounts": [{"Type": "volume", "Source": "secret", "Target": "/d"}]}],
)  # fmt: skip
def test_a_create_naming_another_tenants_object_in_its_body_is_refused(
    host_config: dict[str, Any],
) -> None:
    decision = decide("POST", "/containers/create", {"Image": "bb", "HostConfig": host_config})
    refused_as(decision, 404, "not_owner")


def test_legacy_top_level_host_config_references_are_checked_too() -> None:
    refused_as(
        decide("POST", "/containers/create", {"Image": "bb", "VolumesFrom": ["theirs"]}),
        404,
        "not_owner",
    )


def test_networking_config_networks_and_links_are_checked() -> None:
    joins = {"Image": "bb", "NetworkingConfig": {"EndpointsConfig": {"net-b": {}}}}
    refused_as(decide("POST", "/containers/create", joins), 404, "not_owner")
    links = {
        "Image": "bb",
        "NetworkingConfig": {"EndpointsConfig": {"net-a": {"Links": ["theirs:x"]}}},
    }
    refused_as(decide("POST", "/containers/create", links), 404, "not_owner")
    own = {"Image": "bb", "NetworkingConfig": {"EndpointsConfig": {"net-a": {"Links": ["mine:x"]}}}}
    assert decide("POST", "/containers/create", own).allowed


def test_a_create_from_another_tenants_built_image_is_refused_and_a_shared_one_allowed() -> None:
    refused_as(decide("POST", "/containers/create", {"Image": "built-b"}), 404, "not_owner")
    assert decide("POST", "/containers/create", {"Image": "bb"}).allowed


def test_a_named_volume_that_does_not_exist_must_be_created_first() -> None:
    body = {"Image": "bb", "HostConfig": {"Binds": ["new:/d"]}}
    refused_as(decide("POST", "/containers/create", body), 400, "volume_not_owned")


def test_network_connect_checks_the_container_it_names() -> None:
    refused_as(decide("POST", "/networks/net-a/connect", {"Container": "theirs"}), 404, "not_owner")
    assert decide("POST", "/networks/net-a/connect", {"Container": "mine"}).allowed


def test_a_hex_name_in_the_path_resolves_among_the_tenants_own_and_is_pinned() -> None:
    # dockerd resolves a full id, then a name, then a unique id prefix. A tenant's short
    # hex name is resolved so among its own containers only, and forwarded by the full
    # id: another tenant's containers neither take it over (a rename between check and
    # use), nor make it ambiguous (a 502 told they exist), nor get it refused.
    mine = FACTS.containers["abc"]  # A's, named "/abc"
    a_abc = {"Id": mine["Id"], "Names": ["/abc"], "Labels": {KEY: "uid-1001"}}
    b_abc = {"Id": "abc" + "0" * 61, "Names": ["/b1"], "Labels": {KEY: "uid-2000"}}
    a_c0 = {"Id": "c0ffee" * 10 + "abcd", "Names": ["/web"], "Labels": {KEY: "uid-1001"}}
    a_c1 = {"Id": "c0ffee" + "1" * 58, "Names": ["/w2"], "Labels": {KEY: "uid-1001"}}

    by_id = {mine["Id"]: mine, a_c0["Id"]: FACTS.containers["c0ffee"]}

    def called(book: dict[str, list[dict[str, Any]]]) -> Facts:  # and the pinned ids
        containers = {**FACTS.containers, **by_id}
        return Facts(**{**vars_of(FACTS), "id_prefixes": book, "containers": containers})

    for book in ({"abc": [a_abc, b_abc]}, {"abc": [a_abc]}):
        decision = decide("POST", "/containers/abc/stop", facts=called(book))
        assert decision.allowed and decision.mutation is not None
        assert decision.mutation.path_name == ("abc", mine["Id"])
    prefix = decide("POST", "/containers/c0ff/stop", facts=called({"c0ff": [a_c0, b_abc]}))
    assert prefix.mutation is not None and prefix.mutation.path_name == ("c0ff", a_c0["Id"])
    refused_as(decide("POST", "/containers/abc/stop", facts=called({"abc": [b_abc]})), 404,
               "not_owner")  # fmt: skip
    refused_as(decide("POST", "/containers/c0ff/stop", facts=called({"c0ff": [a_c0, a_c1]})),
               400, "ambiguous_name")  # fmt: skip
    full = decide("POST", f"/containers/{a_c0['Id']}/stop", facts=called({}))  # a full id
    assert full.allowed and not full.mutation


def test_a_hex_name_in_a_body_is_pinned_to_its_id_when_another_tenants_id_begins_with_it() -> None:
    # "abc" is the tenant's container (id fedfed...); another tenant's id begins with
    # "abc". Renamed away between check and use, "abc" would resolve to that one, so the
    # body is forwarded naming the id it was checked as: never refused, never moved.
    theirs = Facts(
        **{
            **vars_of(FACTS),
            "id_prefixes": {"abc": [{"Id": "abc" + "0" * 61, "Labels": {KEY: "uid-2000"}}]},
        }
    )
    own = "fed" * 21 + "a"
    host_config = {
        "VolumesFrom": ["abc:ro", "mine"], "Links": ["abc", "/abc:/x/db", "mine:m"],
        "NetworkMode": "container:abc", "PidMode": "container:abc", "Memory": 64 << 20,
    }  # fmt: skip
    body = json.dumps({"Image": "bb", "HostConfig": host_config}).encode()
    decision = decide("POST", "/containers/create", body, facts=theirs)
    assert decision.allowed and decision.mutation is not None
    assert "container 'abc' (HostConfig.VolumesFrom) pinned to fedfedfedfed" in str(
        decision.mutation.added
    )
    forwarded = body_with_members(body, decision.mutation.body_members or ())
    assert forwarded.startswith(body[:-1])  # the client's bytes, then the members
    read = decode_into(forwarded, schemas.CONTAINER_CREATE)["HostConfig"]
    assert read == {
        **host_config,
        "VolumesFrom": [f"{own}:ro", "mine"], "Links": [f"{own}:abc", f"{own}:db", "mine:m"],
        "NetworkMode": f"container:{own}", "PidMode": f"container:{own}",
    }  # fmt: skip
    connect = decide("POST", "/networks/net-a/connect", {"Container": "abc"}, facts=theirs)
    assert connect.mutation is not None and connect.mutation.body_members == (("Container", own),)
    # Where no member can replace it (the pre-1.24 top-level HostConfig), still refused.
    legacy = {"Image": "bb", "VolumesFrom": ["abc"]}
    refused_as(decide("POST", "/containers/create", legacy, facts=theirs), 400, "ambiguous_name")
    free = Facts(**{**vars_of(FACTS), "id_prefixes": {"abc": []}})
    unpinned = decide("POST", "/containers/create", body, facts=free)
    assert unpinned.allowed and unpinned.mutation is not None
    assert unpinned.mutation.body_members is None  # nothing to pin: the body as it came


def test_a_body_id_prefix_another_tenant_named_a_container_after_is_the_tenants_own() -> None:
    # Tenant B names a container "beef", the start of A's container id: dockerd resolves
    # names first, so A's `--volumes-from beef` would be B's container. Pinned to A's id.
    own = "beef" + "0" * 60
    facts = Facts(
        **{
            **vars_of(FACTS),
            "containers": {**FACTS.containers, "beef": container("uid-2000", "1" * 64, "/beef")},
            "id_prefixes": {"beef": [
                {"Id": own, "Names": ["/mine-x"], "Labels": {KEY: "uid-1001"}},
                {"Id": "1" * 64, "Names": ["/beef"], "Labels": {KEY: "uid-2000"}},
            ]},
        }
    )  # fmt: skip
    body = {"Image": "bb", "HostConfig": {"VolumesFrom": ["beef"]}}
    decision = decide("POST", "/containers/create", body, facts=facts)
    assert decision.mutation is not None and decision.mutation.body_members == (
        ("HostConfig", {"VolumesFrom": [own]}),
    )
    legacy = {"Image": "bb", "VolumesFrom": ["beef"]}  # no member can pin it: B's, refused
    refused_as(decide("POST", "/containers/create", legacy, facts=facts), 404, "not_owner")


def test_an_image_mount_is_a_reference_to_the_image_it_mounts() -> None:
    # API 1.48: --mount type=image,source=<image> puts the image's files in the container.
    mount = {"Type": "image", "Source": "built-b", "Target": "/stolen"}
    body = {"Image": "bb", "HostConfig": {"Mounts": [mount]}}
    refused_as(decide("POST", "/containers/create", body), 404, "not_owner")
    mount["Source"] = "built-a"
    assert decide("POST", "/containers/create", body).allowed


def test_a_name_taken_by_another_tenant_is_refused_without_the_daemons_answer() -> None:
    answer = refused_as(
        decide("POST", "/containers/create?name=taken", {"Image": "bb"}), 409, "name_in_use"
    )
    assert "c0ffee" not in answer  # the daemon's message would name the other container's id
    refused_as(decide("POST", "/containers/mine/rename?name=taken"), 409, "name_in_use")
    refused_as(decide("POST", "/volumes/create", {"Name": "secret"}), 409, "name_in_use")
    # dockerd would make a second "net-b": every later `--network net-b` is then ambiguous.
    refused_as(decide("POST", "/networks/create", {"Name": "net-b"}), 409, "name_in_use")
    refused_as(decide("POST", "/networks/create", {"Name": "bridge"}), 409, "name_in_use")
    assert decide("POST", "/networks/create", {"Name": "net-a"}).allowed  # its own: its call


def test_a_tag_cannot_be_moved_off_another_tenants_image() -> None:
    refused_as(decide("POST", "/images/bb/tag?repo=b&tag=1"), 409, "name_in_use")
    refused_as(decide("POST", "/build?t=b:1"), 409, "name_in_use")
    assert decide("POST", "/images/bb/tag?repo=app&tag=1").allowed


def test_a_tenant_cannot_repoint_a_shared_tag_nor_remove_a_shared_image() -> None:
    # "bb" is shared (pulled, no owner label): re-pointed at a tenant's image it would
    # fail every other tenant's next run; removed, it would be gone for all of them.
    refused_as(decide("POST", "/images/built-a/tag?repo=bb&tag=latest"), 409, "name_in_use")
    refused_as(decide("POST", "/commit?container=mine&repo=bb&tag=latest"), 409, "name_in_use")
    refused_as(decide("DELETE", "/images/bb"), 403, "shared_image")
    assert decide("DELETE", "/images/built-a").allowed
    refused_as(decide("DELETE", "/images/built-b"), 404, "not_owner")


def test_images_a_tenant_loads_or_imports_are_refused_pulls_are_not() -> None:
    refused_as(decide("POST", "/images/load"), 403, "not_for_tenants")
    refused_as(decide("POST", "/images/create?fromSrc=-&repo=alpine"), 403, "not_for_tenants")
    fresh = Facts(**{**vars_of(FACTS), "images": {**FACTS.images, "alpine:3": None}})
    assert decide("POST", "/images/create?fromImage=alpine&tag=3", facts=fresh).allowed


def test_a_build_cannot_run_in_another_tenants_network_or_use_its_image_as_cache() -> None:
    refused_as(decide("POST", "/build?networkmode=container:theirs"), 404, "not_owner")
    refused_as(decide("POST", "/build?networkmode=net-b"), 404, "not_owner")  # RUN joins it
    assert decide("POST", "/build?networkmode=net-a").allowed
    assert decide("POST", "/build?networkmode=bridge").allowed
    refused_as(decide("POST", "/build?cachefrom=%5B%22built-b%22%5D"), 404, "not_owner")
    assert decide("POST", "/build?networkmode=container:mine&cachefrom=%5B%22bb%22%5D").allowed
    refused_as(decide("POST", "/build?cachefrom=nope"), 400, "undecodable_body")
    assert decide("POST", "/build?cachefrom=null").allowed  # compose 2.26: Go reads []


def test_the_owner_label_is_sockspys_to_set() -> None:
    body = {"Image": "bb", "HostConfig": {"Mounts": [{"Type": "volume", "Target": "/d",
            "VolumeOptions": {"Labels": {KEY: "uid-2000"}}}]}}  # fmt: skip
    refused_as(decide("POST", "/containers/create", body), 400, "owner_label")


def test_endpoints_that_cross_tenants_are_not_available_to_them() -> None:
    for method, target in (("GET", "/system/df"), ("GET", "/services"), ("POST", "/plugins/pull"),
                           ("GET", "/secrets"), ("POST", "/session"), ("POST", "/build/prune"),
                           ("POST", "/build/cancel?id=x")):  # fmt: skip
        refused_as(decide(method, target), 403, "not_for_tenants")
    for target in ("/build?version=2", "/build?remote=http://h/c.tar"):  # the context unread
        refused_as(decide("POST", target), 403, "build_unchecked")


def test_inspecting_a_kind_tenants_cannot_reach_looks_like_nothing_is_there() -> None:
    # `docker inspect NAME` tries each kind and stops at the first answer that is no 404.
    for target in ("/plugins/x/json", "/services/x", "/nodes/x", "/secrets/x", "/configs/x"):
        assert refused_as(decide("GET", target), 404, "not_for_tenants").endswith(" x not found")


def test_a_template_naming_a_fact_the_client_lacks_gives_no_access() -> None:
    refused_as(decide("GET", "/containers/json", client=make_client(uid=1003)), 403, "no_owner")
    cert = make_client(ip="10.0.0.1", tls_names=("ci",))
    mutation = decide("GET", "/volumes", client=cert).mutation
    assert mutation is not None and mutation.added == f"filter label={KEY}=cert-ci"


def test_a_client_without_an_owner_sees_and_touches_everything_unchanged() -> None:
    for method, target in (("GET", "/containers/json"), ("GET", "/containers/theirs/json"),
                           ("GET", "/system/df")):  # fmt: skip
        decision = decide(method, target, client=NOBODY)
        assert decision.allowed and decision.mutation is None


def test_in_warn_mode_an_ownership_denial_is_forwarded_as_would_deny() -> None:
    decision = decide("GET", "/containers/theirs/json", mode="warn")
    assert decision.allowed and decision.would_deny and decision.code == "not_owner"
    assert decide("GET", "/volumes", mode="warn").mutation is not None


def test_an_owner_template_with_an_unknown_placeholder_is_a_policy_error() -> None:
    from sockspy.policy.load import PolicyError

    bad = '[[profiles]]\nname = "x"\nuids = [1]\nowner = "u-{pid}"\n'
    with pytest.raises(PolicyError, match="unknown placeholder"):
        parse_policy(bad, "t.toml")


def test_an_endpoints_network_id_is_checked_as_the_network_dockerd_joins() -> None:
    """dockerd joins the network an endpoint's NetworkID names, not the one its key (or a
    connect's path) names, when that one is user-defined: it is a reference too."""
    theirs = "2" * 64
    under_my_key = {
        "Image": "bb",
        "HostConfig": {"NetworkMode": "net-a"},
        "NetworkingConfig": {"EndpointsConfig": {"net-a": {"NetworkID": theirs}}},
    }
    refused_as(decide("POST", "/containers/create", under_my_key), 404, "not_owner")
    folded = {
        "Image": "bb",
        "networkingconfig": {"endpointsconfig": {"net-a": {"networkid": theirs}}},
    }
    refused_as(decide("POST", "/containers/create", folded), 404, "not_owner")
    connect = {"Container": "mine", "EndpointConfig": {"NetworkID": theirs}}
    refused_as(decide("POST", "/networks/net-a/connect", connect), 404, "not_owner")
    mine = {"Container": "mine", "EndpointConfig": {"NetworkID": "1" * 64}}
    assert decide("POST", "/networks/net-a/connect", mine).allowed


def test_a_save_or_push_of_a_bare_repository_name_takes_every_tag_and_each_is_checked() -> None:
    """dockerd saves (and pushes) every tag of a repository named without a tag, while an
    inspect of that name reads only `name:latest`: each tag's image must be usable."""
    mixed = [
        {"Id": "sha256:" + "a" * 64, "RepoTags": ["proj:a"], "Labels": {KEY: "uid-1001"}},
        {"Id": "sha256:" + "b" * 64, "RepoTags": ["proj:b"], "Labels": {KEY: "uid-2000"}},
    ]
    shared = [{"Id": "sha256:" + "c" * 64, "RepoTags": ["bb:1", "bb:2"], "Labels": {}}]
    facts = Facts(
        **{
            **vars_of(FACTS),
            "repositories": {"proj": mixed, "bb": shared, "team/app": mixed},
            "images": {
                **FACTS.images,
                "proj": None,
                "proj:a": {"Config": {"Labels": mixed[0]["Labels"]}},
                "proj:b": {"Config": {"Labels": mixed[1]["Labels"]}},
            },
        }
    )
    for method, target in (
        ("GET", "/images/get?names=proj"),
        ("GET", "/images/get?names=bb&names=proj"),
        ("GET", "/images/proj/get"),
        ("POST", "/images/proj/push"),
        ("GET", "/images/get?names=docker.io/team/app"),  # the familiar form is compared
    ):
        refused_as(decide(method, target, facts=facts), 404, "not_owner")
    refused_as(decide("POST", "/images/proj/push?tag=b", facts=facts), 404, "not_owner")
    assert decide("POST", "/images/proj/push?tag=a", facts=facts).allowed
    assert decide("GET", "/images/get?names=proj:a", facts=facts).allowed
    assert decide("GET", "/images/get?names=bb", facts=facts).allowed
    unknown = decide("GET", "/images/get?names=elsewhere")  # not looked up: fail closed
    refused_as(unknown, 403, "not_looked_up")


def test_familiar_repository_names_are_read_as_dockerd_normalises_them() -> None:
    from sockspy.core.docker import imageref

    assert imageref.repository("docker.io/library/app") == "app"
    assert imageref.repository("index.docker.io/team/app") == "team/app"
    assert imageref.repository("library/app") == "app"
    assert imageref.repository("localhost:5000/app") == "localhost:5000/app"
    assert imageref.repository("registry.example/library/app") == "registry.example/library/app"
    for one_image in ("app:1", "app@sha256:" + "a" * 64, "a" * 64, "sha256:" + "a" * 64):
        assert imageref.repository(one_image) is None
    assert imageref.tag_repository("localhost:5000/app:1") == "localhost:5000/app"
    assert imageref.tag_repository("app:latest") == "app"


def test_a_commit_gets_the_tenants_label_as_its_last_change() -> None:
    """dockerd applies every `changes` value after the body and the container's config,
    with ENV expansion: one more LABEL, last, decides the owner whatever came before."""
    decision = decide(
        "POST", "/commit?container=mine&repo=app&tag=1&changes=ENV%20K%3Dio.sockspy.owner", {}
    )
    assert decision.allowed and decision.mutation is not None
    assert decision.mutation.query_added == ("changes", f"LABEL {KEY}=uid-1001")
    continued = decide("POST", "/commit?container=mine&repo=app&tag=1&changes=LABEL%20a%3Db%20%5C")
    refused_as(continued, 400, "owner_label")


def test_a_value_added_to_a_repeatable_query_parameter_comes_after_the_others() -> None:
    from sockspy.core.wire.rewrite import with_query_added

    head = b"POST /v1.41/commit?changes=A&container=c&changes=B HTTP/1.1\r\nHost: x\r\n\r\n"
    out = with_query_added(head, "changes", "LABEL k=v w")
    assert out.split(b"\r\n", 1)[0] == (
        b"POST /v1.41/commit?changes=A&container=c&changes=B&changes=LABEL%20k%3Dv%20w HTTP/1.1"
    )
    bare = with_query_added(b"POST /commit HTTP/1.1\r\n\r\n", "changes", "x")
    assert bare.startswith(b"POST /commit?changes=x HTTP/1.1")


def test_a_pull_cannot_move_a_tag_off_another_tenants_image() -> None:
    refused_as(decide("POST", "/images/create?fromImage=b&tag=1"), 409, "name_in_use")
    refused_as(decide("POST", "/images/create?fromImage=b:1"), 409, "name_in_use")
    b_1 = {"Id": "sha256:" + "2" * 64, "RepoTags": ["b:1"], "Labels": {KEY: "uid-2000"}}
    theirs = Facts(**{**vars_of(FACTS), "repositories": {"b": [b_1]}})
    refused_as(decide("POST", "/images/create?fromImage=b", facts=theirs), 409, "name_in_use")
    assert decide("POST", "/images/create?fromImage=bb&tag=latest").allowed  # shared: moves
    assert decide("POST", "/images/create?fromImage=app&tag=1").allowed  # a new tag
    assert decide("POST", "/images/create?fromImage=b@sha256:" + "3" * 64).allowed  # no tag


def test_a_shared_networks_inspect_loses_its_members_for_a_tenant() -> None:
    bridge = decide("GET", "/networks/bridge")
    assert bridge.allowed and bridge.redact == ("members",)  # every tenant's containers
    own = decide("GET", "/networks/net-a")
    assert own.allowed and own.redact == ()
    refused_as(decide("GET", "/networks/net-b"), 404, "not_owner")


def test_an_untagged_image_without_an_owner_is_no_tenants_to_run() -> None:
    # A build's intermediate images (a stage's RUN steps) carry neither the owner label
    # (the classic builder labels only the last step) nor a tag: another tenant's
    # `docker run <its id>` would read the stage's files.
    refused_as(decide("POST", "/containers/create", {"Image": "4e63e9f9b7af"}), 404, "not_owner")
    refused_as(decide("GET", "/images/4e63e9f9b7af/json"), 404, "not_owner")
    assert decide("POST", "/containers/create", {"Image": "bb"}).allowed  # tagged: shared
