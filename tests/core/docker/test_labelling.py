"""The owner label where dockerd reads it: inserted into create bodies (Go merges the
maps, ours last), added to filters in both of dockerd's forms, and to build labels."""

from __future__ import annotations

import json

import pytest

from sockspy.core.docker import schemas
from sockspy.core.docker.gojson import BodyDecodeError, decode_into
from sockspy.core.docker.labelling import (
    body_with_label,
    filters_with_label,
    labels_with_label,
    sets_label,
)

KEY, OWNER = "io.sockspy.owner", "team-a"


def labels_go_reads(body: bytes) -> dict[str, str]:
    return dict(decode_into(body, schemas.CONTAINER_CREATE).get("Labels") or {})


def test_the_label_is_inserted_before_the_closing_brace_and_every_other_byte_is_kept() -> None:
    body = b'{"Image": "bb",\n "Cmd": ["true"]}\n'
    out = body_with_label(body, KEY, OWNER)
    assert out == b'{"Image": "bb",\n "Cmd": ["true"],"Labels":{"io.sockspy.owner":"team-a"}}\n'


def test_an_empty_object_gets_the_member_without_a_comma() -> None:
    assert body_with_label(b"{}", KEY, OWNER) == b'{"Labels":{"io.sockspy.owner":"team-a"}}'


def test_the_clients_labels_are_kept_and_the_owner_label_is_ours_as_go_decodes_it() -> None:
    body = json.dumps({"Image": "bb", "labels": {"app": "web", KEY: "team-b"}}).encode()
    assert labels_go_reads(body_with_label(body, KEY, OWNER)) == {"app": "web", KEY: OWNER}


def test_a_body_go_would_read_otherwise_is_refused() -> None:
    for bad in (b'{"Image":"bb"} {"Labels":{}}', b"[1]", b'{"a":', b"\xff{}"):
        with pytest.raises(BodyDecodeError):
            body_with_label(bad, KEY, OWNER)


def test_an_owner_label_set_anywhere_in_the_body_is_seen() -> None:
    nested = {"HostConfig": {"Mounts": [{"VolumeOptions": {"Labels": {KEY: "team-b"}}}]}}
    assert sets_label(json.dumps(nested).encode(), KEY)
    assert not sets_label(b'{"Labels":{"other":"x"}}', KEY)


def test_filters_gain_the_owner_label_and_keep_the_clients_own() -> None:
    assert json.loads(filters_with_label(None, KEY, OWNER)) == {"label": {f"{KEY}={OWNER}": True}}
    given = '{"status":{"running":true},"label":{"app=web":true}}'
    assert json.loads(filters_with_label(given, KEY, OWNER)) == {
        "status": {"running": True},
        "label": {"app=web": True, f"{KEY}={OWNER}": True},
    }


def test_legacy_list_filters_are_read_as_dockerd_reads_them() -> None:
    out = json.loads(filters_with_label('{"name":["web"]}', KEY, OWNER))
    assert out == {"name": {"web": True}, "label": {f"{KEY}={OWNER}": True}}


def test_filters_that_go_and_python_could_read_apart_are_refused() -> None:
    bad = ('{"name":["a"],"label":{"b":true}}', '{"label":{"a":true},"label":{"b":true}}',
           "[]", '{"name":"web"}', "not json")  # fmt: skip
    for filters in bad:
        with pytest.raises(BodyDecodeError):
            filters_with_label(filters, KEY, OWNER)


def test_build_labels_gain_the_owner_over_the_clients_value() -> None:
    out = json.loads(labels_with_label('{"a":"1","io.sockspy.owner":"team-b"}', KEY, OWNER))
    assert out == {"a": "1", KEY: OWNER}
    with pytest.raises(BodyDecodeError):
        labels_with_label('{"a":1}', KEY, OWNER)
