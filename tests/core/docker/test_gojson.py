"""Bodies decoded as Go's encoding/json fills dockerd's structs (checked on dockerd 20.10)."""

from __future__ import annotations

import contextlib
import json
from typing import Any as AnyValue

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sockspy.core.docker.gojson import (
    MAX_DEPTH,
    Any,
    Array,
    BodyDecodeError,
    Bool,
    Embedded,
    Float,
    Int,
    Map,
    Pointer,
    String,
    StrSlice,
    Struct,
    decode_into,
    decode_pairs,
    decode_value,
    go_fold,
    top_level_field,
)

MOUNT = Struct({"Type": String(), "Source": String(), "Target": String()})
HOST = Struct(
    {
        "Binds": Array(String()),
        "Privileged": Bool(),
        "CapAdd": StrSlice(),
        "NetworkMode": String(),
        "SecurityOpt": Array(String()),
        "Mounts": Array(MOUNT),
        "LogConfig": Struct({"Type": String(), "Config": Map(String())}),
        "Init": Pointer(Bool()),
        "Memory": Int(),
        "BlkioWeight": Int(bits=16, unsigned=True),
        "Ulimits": Array(Pointer(Struct({"Name": String(), "Soft": Int()}))),
        "Opts": Map(MOUNT),
    },
    embedded=(Embedded(Struct({"CgroupParent": String()})),),
)
WRAPPER = Struct(
    {"HostConfig": Pointer(HOST), "Labels": Any()},
    embedded=(Embedded(Struct({"Image": String()})), Embedded(HOST, key="legacy")),
)


def decode(body: str | bytes, schema: Struct = WRAPPER) -> dict[str, AnyValue]:
    return decode_into(body.encode() if isinstance(body, str) else body, schema)


# -- Field names ---------------------------------------------------------------------------

MATCHING = [
    ('{"HostConfig":{"Privileged":true}}', "exact name"),
    ('{"hostconfig":{"PRIVILEGED":true}}', "ASCII case folded"),
    ('{"Ho\u017ftConfig":{"Privileged":true}}', "U+017F LONG S folds to s"),
    ('{"\\u0048ostConfig":{"\\u0050rivileged":true}}', "escapes decoded before matching"),
]


@pytest.mark.parametrize(("body", "why"), MATCHING)
def test_keys_match_fields_like_go(body: str, why: str) -> None:
    assert decode(body) == {"HostConfig": {"Privileged": True}}, why


def test_kelvin_sign_folds_to_k() -> None:
    body = '{"HostConfig":{"Networ\u212amode":"host"}}'
    assert decode(body) == {"HostConfig": {"NetworkMode": "host"}}


@pytest.mark.parametrize(
    "key",
    [
        "Pr\u0131vileged",  # U+0131 dotless i: folds to I only in Turkish, not in Go
        "Pr\u00edvileged",  # i with acute
        "Privileged\u200b",  # zero-width space
        "Privileged ",
        "Privi_leged",
    ],
)
def test_near_miss_keys_are_ignored(key: str) -> None:
    assert decode(json.dumps({"HostConfig": {key: True}})) == {"HostConfig": {}}


def test_exact_name_is_preferred_over_a_folded_one() -> None:
    schema = Struct({"Ab": String(), "AB": String()})
    assert decode('{"AB":"x"}', schema) == {"AB": "x"}
    assert decode('{"ab":"x"}', schema) == {"Ab": "x"}  # first field that folds alike
    assert decode('{"Ab":"x","aB":"y"}', schema) == {"Ab": "y"}


def test_go_fold_relates_only_go_folds() -> None:
    assert go_fold("Ho\u017ftConfig") == go_fold("HOSTCONFIG")
    assert go_fold("\u212aill") == go_fold("kill")
    assert go_fold("\u0130") != go_fold("i")


def test_unknown_keys_are_skipped_whatever_they_hold() -> None:
    body = '{"Image":"bb","Future":{"x":[1,2,{"y":null}]},"HostConfig":{"NewThing":1e999}}'
    assert decode(body) == {"Image": "bb", "HostConfig": {}}


# -- Duplicates ----------------------------------------------------------------------------

DUPLICATES = [
    # scalars: the last one wins
    ('{"Image":"a","image":"b"}', {"Image": "b"}),
    (
        '{"HostConfig":{"Privileged":true,"privileged":false}}',
        {"HostConfig": {"Privileged": False}},
    ),
    # structs and pointers to structs merge
    (
        '{"HostConfig":{"Privileged":true},"HostConfig":{"CapAdd":["X"]}}',
        {"HostConfig": {"Privileged": True, "CapAdd": ["X"]}},
    ),
    ('{"HostConfig":{"Privileged":true},"HostConfig":{}}', {"HostConfig": {"Privileged": True}}),
    (
        '{"HostConfig":{"LogConfig":{"Type":"syslog"},"LogConfig":{"Config":{}}}}',
        {"HostConfig": {"LogConfig": {"Type": "syslog", "Config": {}}}},
    ),
    # maps merge; their elements are fresh each time (no merge inside an element)
    (
        '{"HostConfig":{"LogConfig":{"Config":{"a":"1"}},"LogConfig":{"Config":{"b":"2"}}}}',
        {"HostConfig": {"LogConfig": {"Config": {"a": "1", "b": "2"}}}},
    ),
    (
        '{"HostConfig":{"Opts":{"m":{"Type":"bind"}},"Opts":{"m":{"Target":"/x"}}}}',
        {"HostConfig": {"Opts": {"m": {"Target": "/x"}}}},
    ),
    # StrSlice and interface{} are replaced whole
    ('{"HostConfig":{"CapAdd":["A","B"],"CapAdd":"C"}}', {"HostConfig": {"CapAdd": ["C"]}}),
    ('{"Labels":{"a":1},"Labels":{"b":2}}', {"Labels": {"b": 2}}),
    # a slice decodes into its old elements...
    (
        '{"HostConfig":{"Mounts":[{"Type":"bind","Source":"/"}],"Mounts":[{"Target":"/x"}]}}',
        {"HostConfig": {"Mounts": [{"Type": "bind", "Source": "/", "Target": "/x"}]}},
    ),
    ('{"HostConfig":{"Binds":["/:/h"],"Binds":[null]}}', {"HostConfig": {"Binds": ["/:/h"]}}),
    ('{"HostConfig":{"Binds":["/:/h"],"Binds":["v:/d"]}}', {"HostConfig": {"Binds": ["v:/d"]}}),
    # ...keeps the ones past its new length, and reuses them when it grows again
    (
        '{"HostConfig":{"Binds":["/a:/a","/b:/b"],"Binds":["/c:/c"]}}',
        {"HostConfig": {"Binds": ["/c:/c"]}},
    ),
    (
        '{"HostConfig":{"Binds":["/a:/a","/b:/b"],"Binds":["/c:/c"],"Binds":[null,null]}}',
        {"HostConfig": {"Binds": ["/c:/c", "/b:/b"]}},
    ),
    (
        '{"HostConfig":{"Binds":["/a:/a"],"Binds":[],"Binds":[null]}}',  # [] starts over
        {"HostConfig": {"Binds": [""]}},
    ),
    (
        '{"HostConfig":{"Binds":["/a:/a"],"Binds":null,"Binds":[null]}}',  # so does null
        {"HostConfig": {"Binds": [""]}},
    ),
    # a pointer element merges too, until null sets it nil
    (
        '{"HostConfig":{"Ulimits":[{"Name":"n"}],"Ulimits":[{"Soft":1}]}}',
        {"HostConfig": {"Ulimits": [{"Name": "n", "Soft": 1}]}},
    ),
    (
        '{"HostConfig":{"Ulimits":[{"Name":"n"}],"Ulimits":[null],"Ulimits":[{"Soft":1}]}}',
        {"HostConfig": {"Ulimits": [{"Soft": 1}]}},
    ),
]


@pytest.mark.parametrize(("body", "expected"), DUPLICATES)
def test_duplicate_keys_merge_or_replace_like_go(body: str, expected: AnyValue) -> None:
    assert decode(body) == expected


# -- null ----------------------------------------------------------------------------------

NULLS = [
    ('{"HostConfig":{"Privileged":true},"HostConfig":null}', {}),  # pointer: nil
    ('{"HostConfig":{"Privileged":true},"hostconfig":null}', {}),
    ('{"HostConfig":{"Privileged":true,"Privileged":null}}', {"HostConfig": {"Privileged": True}}),
    ('{"HostConfig":{"LogConfig":{"Type":"x"},"LogConfig":null}}',
     {"HostConfig": {"LogConfig": {"Type": "x"}}}),
    ('{"HostConfig":{"Binds":["a"],"Binds":null}}', {"HostConfig": {}}),
    ('{"HostConfig":{"CapAdd":"A","CapAdd":null}}', {"HostConfig": {}}),
    ('{"HostConfig":{"CapAdd":[null]}}', {"HostConfig": {"CapAdd": [""]}}),
    ('{"HostConfig":{"Init":true,"Init":null}}', {"HostConfig": {}}),
    ('{"HostConfig":{"LogConfig":{"Config":{"a":null}}}}',
     {"HostConfig": {"LogConfig": {"Config": {"a": ""}}}}),
    ('{"HostConfig":{"Opts":{"m":null}}}', {"HostConfig": {"Opts": {"m": {}}}}),
    ('{"HostConfig":{"Mounts":[null]}}', {"HostConfig": {"Mounts": [{}]}}),
    ('{"HostConfig":{"Ulimits":[null]}}', {"HostConfig": {"Ulimits": [None]}}),
    ('{"Labels":{"a":1},"Labels":null}', {}),
    ("null", {}),  # into a struct: nothing
]  # fmt: skip


@pytest.mark.parametrize(("body", "expected"), NULLS)
def test_null_sets_nilable_fields_nil_and_leaves_the_rest(body: str, expected: AnyValue) -> None:
    assert decode(body) == expected


def test_legacy_embedded_pointer_is_allocated_by_any_of_its_fields() -> None:
    assert decode('{"Image":"bb","Privileged":null}') == {"Image": "bb", "legacy": {}}
    assert decode('{"Privileged":true,"HostConfig":null}') == {"legacy": {"Privileged": True}}
    assert decode('{"Binds":["/:/h"],"CgroupParent":"x"}') == {
        "legacy": {"Binds": ["/:/h"], "CgroupParent": "x"}
    }
    assert decode('{"Image":"bb"}') == {"Image": "bb"}


# -- Types ---------------------------------------------------------------------------------

TYPE_ERRORS = [
    '{"HostConfig":{"Privileged":"true"}}',
    '{"HostConfig":{"Privileged":1}}',
    '{"HostConfig":{"NetworkMode":5}}',
    '{"HostConfig":{"NetworkMode":["host"]}}',
    '{"HostConfig":{"Memory":1.0}}',
    '{"HostConfig":{"Memory":1e3}}',
    '{"HostConfig":{"Memory":"1"}}',
    '{"HostConfig":{"Memory":9223372036854775808}}',
    '{"HostConfig":{"Memory":' + "9" * 5000 + "}}",
    '{"HostConfig":{"BlkioWeight":-0}}',
    '{"HostConfig":{"BlkioWeight":65536}}',
    '{"HostConfig":{"CapAdd":["A",5]}}',
    '{"HostConfig":{"CapAdd":{"A":1}}}',
    '{"HostConfig":{"Binds":"/:/h"}}',
    '{"HostConfig":{"Mounts":{"Type":"bind"}}}',
    '{"HostConfig":{"LogConfig":[]}}',
    '{"HostConfig":{"LogConfig":{"Config":{"a":1}}}}',
    '{"HostConfig":true}',
    '{"Labels":1e400}',
    '["not","an","object"]',
    '"string"',
]


@pytest.mark.parametrize("body", TYPE_ERRORS)
def test_values_of_the_wrong_type_are_refused(body: str) -> None:
    with pytest.raises(BodyDecodeError):
        decode(body)


def test_numbers_follow_strconv() -> None:
    assert decode('{"HostConfig":{"Memory":-0,"BlkioWeight":65535}}') == {
        "HostConfig": {"Memory": 0, "BlkioWeight": 65535}
    }
    assert decode('{"HostConfig":{"Memory":-9223372036854775808}}') == {
        "HostConfig": {"Memory": -(2**63)}
    }
    assert decode_value(b"1.5e2", Float()) == 150.0
    assert decode('{"Labels":{"n":1,"f":1.5,"big":1e300}}') == {
        "Labels": {"n": 1, "f": 1.5, "big": 1e300}
    }


def test_strslice_takes_a_string_or_an_array() -> None:
    assert decode('{"HostConfig":{"CapAdd":"SYS_ADMIN"}}') == {
        "HostConfig": {"CapAdd": ["SYS_ADMIN"]}
    }
    assert decode('{"HostConfig":{"CapAdd":[]}}') == {"HostConfig": {"CapAdd": []}}


def test_non_struct_top_level_types() -> None:
    assert decode_value(b'[{"Name":"x"},null]', Array(Struct({"Name": String()}))) == [
        {"Name": "x"},
        {},
    ]
    assert decode_value(b"null", Array(String())) is None
    assert decode_value(b"[]", Array(String())) == []


# -- What is refused before decoding --------------------------------------------------------

REFUSED = [
    (b'{"Image":"a"} {"HostConfig":{"Privileged":true}}', "a second value"),
    (b'{"Image":"a"}x', "trailing garbage"),
    (b'{"Image":"a"}\x00', "a trailing NUL"),
    (b'{"Image":"\xff"}', "invalid UTF-8"),
    (b'{"Image":"\xed\xa0\x80"}', "an encoded surrogate"),
    (b'{"Image":"\\ud800"}', "a lone high surrogate"),
    (b'{"\\udc00Image":"a"}', "a lone low surrogate in a key"),
    (b'{"Image":"\\ud800\\u0041"}', "a high surrogate before a non-surrogate"),
    (b'{"Memory":NaN}', "NaN"),
    (b'{"Memory":Infinity}', "Infinity"),
    (b'{"Memory":-Infinity}', "-Infinity"),
    (b"\xef\xbb\xbf{}", "a byte order mark"),
    (b"", "an empty body"),
    (b"  ", "only spaces"),
    (b'{"Image":"a",}', "a trailing comma"),
    (b"{'Image':'a'}", "single quotes"),
    (b'{"Image":"a\tb"}', "a raw control character"),
    (b'{"Image":01}', "a leading zero"),
    (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nesting deeper than MAX_DEPTH"),
    (b"[" * 100_000, "nesting beyond Python's recursion limit"),
]


@pytest.mark.parametrize(("body", "why"), REFUSED)
def test_bodies_go_could_read_otherwise_are_refused(body: bytes, why: str) -> None:
    with pytest.raises(BodyDecodeError):
        decode_value(body, Any())


def test_what_is_not_refused() -> None:
    assert decode_value(b' \t\r\n{"a":"\\ud83d\\ude00"} \n', Any()) == {"a": "\U0001f600"}
    assert decode_value(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, Any()) is not None
    assert decode('{"Image":"caf\\u00e9 \\/ \\"q\\""}') == {"Image": 'café / "q"'}


@given(st.binary(max_size=200))
def test_any_bytes_either_decode_or_raise_body_decode_error(body: bytes) -> None:
    with contextlib.suppress(BodyDecodeError):
        decode_into(body, WRAPPER)


# -- The older helpers ---------------------------------------------------------------------


def test_top_level_field_and_decode_pairs_keep_working() -> None:
    assert top_level_field(b'{"Detach":false,"detach":true}', "Detach") is True
    assert decode_pairs(b'{"a":1,"a":{"b":[2]}}') == [("a", 1), ("a", {"b": [2]})]
    with pytest.raises(BodyDecodeError):
        decode_pairs(b"[1]")


# -- Property: the decoder against a straightforward reference --------------------------------

# A small struct whose fields cover each rule: scalar, StrSlice, slice, map, pointer.
PROPERTY_SCHEMA = Struct(
    {
        "Privileged": Bool(),
        "CgroupParent": String(),
        "CapAdd": StrSlice(),
        "Binds": Array(String()),
        "Labels": Map(String()),
        "Sub": Pointer(Struct({"Name": String(), "Mask": Bool()})),
    }
)
FIELDS = list(PROPERTY_SCHEMA.fields)
WORDS = st.sampled_from(["", "a", "/:/h", "host", "k"])


def _value_for(field: str) -> st.SearchStrategy[AnyValue]:
    null = st.none()
    return {
        "Privileged": null | st.booleans(),
        "CgroupParent": null | WORDS,
        "CapAdd": null | WORDS | st.lists(null | WORDS, max_size=3),
        "Binds": null | st.lists(null | WORDS, max_size=4),
        "Labels": null | st.dictionaries(st.sampled_from("ab"), null | WORDS, max_size=2),
        "Sub": null
        | st.fixed_dictionaries({}, optional={"Name": null | WORDS, "Mask": null | st.booleans()}),
    }[field]


@st.composite
def spelled(draw: st.DrawFn, field: str) -> str:
    """A JSON key (already quoted) that Go matches to `field`: case, folds, escapes."""
    out = []
    for char in field:
        choice = draw(st.integers(0, 4))
        if char in "sS" and choice == 0:
            char = "\u017f"
        elif char in "kK" and choice == 0:
            char = "\u212a"
        elif choice == 1:
            char = char.swapcase()
        if choice == 2:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


@st.composite
def members(draw: st.DrawFn) -> list[tuple[str, str, AnyValue]]:
    count = draw(st.integers(0, 8))
    result = []
    for _ in range(count):
        field = draw(st.sampled_from(FIELDS))
        result.append((field, draw(spelled(field)), draw(_value_for(field))))
    return result


def reference(items: list[tuple[str, str, AnyValue]]) -> dict[str, AnyValue]:
    """Go's rules, written out field by field for this one schema."""
    out: dict[str, AnyValue] = {}
    binds_backing: list[str] = []  # the slice's backing array up to its high-water mark
    for field, _, value in items:
        if field in ("Privileged", "CgroupParent"):
            if value is not None:
                out[field] = value
        elif field == "CapAdd":
            if value is None:
                out.pop(field, None)
            else:
                listed = [value] if isinstance(value, str) else value
                out[field] = ["" if v is None else v for v in listed]
        elif field == "Binds":
            if value is None or value == []:
                binds_backing = []
                if value is None:
                    out.pop(field, None)
                else:
                    out[field] = []
                continue
            for i, item in enumerate(value):
                if i == len(binds_backing):
                    binds_backing.append("")
                if item is not None:
                    binds_backing[i] = item
            out[field] = binds_backing[: len(value)]
        elif field == "Labels":
            if value is None:
                out.pop(field, None)
            else:
                labels = out.setdefault(field, {})
                labels.update({k: "" if v is None else v for k, v in value.items()})
        elif field == "Sub":
            if value is None:
                out.pop(field, None)
            else:
                sub = out.setdefault(field, {})
                sub.update({k: v for k, v in value.items() if v is not None})
    return out


@settings(max_examples=300)
@given(members())
def test_key_variants_and_duplicates_decode_like_the_reference(
    items: list[tuple[str, str, AnyValue]],
) -> None:
    body = "{" + ",".join(f"{key}:{json.dumps(value)}" for _, key, value in items) + "}"
    assert decode(body, PROPERTY_SCHEMA) == reference(items)
