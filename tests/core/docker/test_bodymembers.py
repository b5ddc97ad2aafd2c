"""Members appended to a JSON body: the client's bytes stay, Go reads the new ones last."""

from __future__ import annotations

import pytest

from sockspy.core.docker import schemas
from sockspy.core.docker.bodymembers import body_with_members
from sockspy.core.docker.gojson import BodyDecodeError, decode_into


def test_members_go_in_before_the_closing_brace_and_every_client_byte_stays() -> None:
    body = b'{ "Image" : "bb",\n "HostConfig": {"Memory": 5, "VolumesFrom": ["ab"]} }\r\n'
    out = body_with_members(body, [("HostConfig", {"VolumesFrom": ["ab0"]})])
    assert out == body[:-3] + b',"HostConfig":{"VolumesFrom":["ab0"]}}\r\n'
    read = decode_into(out, schemas.CONTAINER_CREATE)
    assert read["HostConfig"] == {"Memory": 5, "VolumesFrom": ["ab0"]}  # merged, replaced
    assert body_with_members(b"{}", [("Container", "x")]) == b'{"Container":"x"}'
    assert body_with_members(body, []) == body


def test_a_body_that_is_not_one_object_gets_nothing_appended() -> None:
    for bad in (b"[]", b'{"a":1} {"b":2}', b'{"a":'):
        with pytest.raises(BodyDecodeError):
            body_with_members(bad, [("Container", "x")])
