"""Redacted inspect and list answers: env values and mount sources go, every other field
stays as the daemon sent it; what cannot be redacted is never passed on."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from sockspy.core.docker.redaction import (
    RedactionError,
    foreign_images,
    redact,
    redact_item,
    redactable,
)

INSPECT: dict[str, Any] = {
    "Id": "abc",
    "Name": "/web",
    "Config": {"Env": ["DB_PASSWORD=hunter2", "PATH=/bin", "EMPTY="], "Labels": {"a": "b"}},
    "HostConfig": {
        "Binds": ["/srv/secret:/data:ro", "vol:/cache"],
        "Mounts": [{"Type": "bind", "Source": "/etc", "Target": "/e"}],
        "Memory": 0,
    },
    "Mounts": [{"Type": "bind", "Source": "/srv/secret", "Destination": "/data", "RW": False}],
    "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}},
    "Unicode": "caf\u00e9 <&>",
}


def test_env_values_go_and_their_names_stay() -> None:
    out = json.loads(redact("container.inspect", json.dumps(INSPECT).encode(), ["env"]))
    assert out["Config"]["Env"] == ["DB_PASSWORD", "PATH", "EMPTY"]
    assert out["HostConfig"] == INSPECT["HostConfig"] and out["Mounts"] == INSPECT["Mounts"]


def test_mount_sources_go_and_every_other_field_is_the_daemons() -> None:
    out = json.loads(redact("container.inspect", json.dumps(INSPECT).encode(), ["env", "mounts"]))
    assert out["HostConfig"]["Binds"] == [":/data:ro", ":/cache"]
    assert out["HostConfig"]["Mounts"][0]["Source"] == "" and out["Mounts"][0]["Source"] == ""
    expected = copy.deepcopy(INSPECT)
    expected["Config"]["Env"] = out["Config"]["Env"]
    expected["HostConfig"]["Binds"] = out["HostConfig"]["Binds"]
    expected["HostConfig"]["Mounts"][0]["Source"] = ""
    expected["Mounts"][0]["Source"] = ""
    assert out == expected
    assert list(out) == list(INSPECT)  # the daemon's key order


def test_a_list_answer_is_redacted_item_by_item() -> None:
    listed = [{"Id": "a", "Mounts": [{"Source": "/x"}]}, {"Id": "b", "Mounts": []}]
    out = json.loads(redact("container.list", json.dumps(listed).encode(), ["mounts"]))
    assert out == [{"Id": "a", "Mounts": [{"Source": ""}]}, {"Id": "b", "Mounts": []}]


def test_the_output_is_compact_json_with_a_newline_as_dockerd_writes_it() -> None:
    assert redact("container.list", b'[ {"Id" : "a"} ]', ["env"]) == b'[{"Id":"a"}]\n'


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [("container.inspect", b"{not json"), ("container.inspect", b"[]"),
     ("container.list", b"{}"), ("container.list", b"[1]"), ("image.inspect", b"[]"),
     ("volume.list", b'{"Volumes": {}}'), ("network.list", b"[]")],
)  # fmt: skip
def test_an_answer_that_is_not_what_the_endpoint_returns_cannot_be_redacted(
    endpoint: str, body: bytes
) -> None:
    with pytest.raises(RedactionError):
        redact(endpoint, body, ["env"])


SPEC = {
    "ContainerSpec": {
        "Env": ["TOKEN=s3cret"],
        "Mounts": [{"Type": "bind", "Source": "/srv/secret", "Target": "/d"}],
    },
    "LogDriver": {"Name": "splunk", "Options": {"splunk-token": "s3cret"}},
}


@pytest.mark.parametrize(
    ("endpoint", "answer"),
    [
        ("service.list", [{"ID": "s", "Spec": {"TaskTemplate": SPEC},
                           "PreviousSpec": {"TaskTemplate": SPEC}}]),
        ("service.inspect", {"ID": "s", "Spec": {"TaskTemplate": SPEC}}),
        ("task.list", [{"ID": "t", "Spec": SPEC}]),
        ("task.inspect", {"ID": "t", "Spec": SPEC}),
        ("volume.list", {"Volumes": [{"Name": "v", "Mountpoint": "/var/lib/docker/volumes/v",
                                      "Options": {"device": "/srv/secret", "o": "pass=s3cret"}}],
                         "Warnings": None}),
        ("volume.inspect", {"Name": "v", "Mountpoint": "/srv/secret", "Options": {"o": "s3cret"}}),
        ("system.df", {"Volumes": [{"Name": "v", "Mountpoint": "/srv/secret"}],
                       "Containers": [{"Id": "c", "Mounts": [{"Source": "/srv/secret"}]}]}),
        ("image.inspect", {"Id": "i", "Config": {"Env": ["TOKEN=s3cret"]},
                           "ContainerConfig": {"Cmd": ["/bin/sh", "-c", "#(nop) ENV TOKEN=s3cret"]},
                           "GraphDriver": {"Data": {"UpperDir": "/srv/secret"}}}),
        ("container.inspect", {"Id": "c", "LogPath": "/srv/secret/c.log",
                               "HostConfig": {"LogConfig": {"Type": "splunk",
                                              "Config": {"splunk-token": "s3cret"}},
                                              "Devices": [{"PathOnHost": "/srv/secret"}]},
                               "GraphDriver": {"Data": {"MergedDir": "/srv/secret"}}}),
    ],
)  # fmt: skip
def test_every_redacted_endpoint_loses_secrets_and_host_paths(
    endpoint: str, answer: object
) -> None:
    body = json.dumps(answer).encode()
    out = redact(endpoint, body, ["env", "mounts"])
    assert b"s3cret" not in out and b"/srv/secret" not in out and b"/var/lib/docker" not in out
    assert json.loads(out).__class__ is answer.__class__  # the same shape, rewritten


def test_only_redacted_or_clean_endpoints_may_answer_a_redacting_client() -> None:
    for endpoint in ("container.top", "image.history", "exec.create", "container.logs",
                     "container.archive_get", "swarm.inspect", "plugin.list"):  # fmt: skip
        assert not redactable(endpoint), endpoint
    for endpoint in ("system.ping", "system.events", "container.list", "service.list"):
        assert redactable(endpoint)


def test_a_tenants_image_list_keeps_its_own_and_the_shared_images_as_the_daemon_sent_them() -> None:
    only = foreign_images("io.sockspy.owner", "team-a")
    images = [
        {"Id": "own", "Labels": {"io.sockspy.owner": "team-a"}, "RepoTags": ["<none>:<none>"]},
        {"Id": "theirs", "Labels": {"io.sockspy.owner": "team-b"}, "RepoTags": ["app:1"]},
        {"Id": "shared", "Labels": None, "RepoTags": ["busybox:latest"], "RepoDigests": None},
        {"Id": "pulled", "Labels": {}, "RepoTags": None, "RepoDigests": ["bb@sha256:ab"]},
        {"Id": "stage", "Labels": None, "RepoTags": ["<none>:<none>"],
         "RepoDigests": ["<none>@<none>"]},
    ]  # fmt: skip
    kept = json.loads(redact("image.list", json.dumps(images).encode(), [only]))
    assert [i["Id"] for i in kept] == ["own", "shared", "pulled"]
    for image in images:  # streamed: each kept item is the daemon's bytes, others b""
        item = json.dumps(image, indent=1).encode()
        out = redact_item("image.list", item, [only])
        assert out == (item if image["Id"] in ("own", "shared", "pulled") else b"")
    assert redact_item("image.list", b'{"Id":"x","Labels":{"io.sockspy.owner":"b"}}', []) != b""
