"""Canonical refusals: what dockerd could read otherwise than the rules do."""

from __future__ import annotations

import pytest
from policy.policy_requests import make_request

from sockspy.core.docker.request import query_bool
from sockspy.policy.canonical import (
    form_body_refusal,
    parse_version,
    repeated_parameter,
    version_refusal,
)

FLOOR = (1, 24)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("1.24", (1, 24)),
        ("1.41", (1, 41)),
        ("1.041", (1, 41)),
        ("01.041", (1, 41)),
        ("1.41.0", (1, 41)),
        ("1.9", (1, 9)),
        ("1", (1,)),
        ("2.0.0", (2,)),
        ("1.", None),
        (".", None),
        ("1..41", None),
        (".41", None),
        ("1.1234567890", None),
        ("1.٤", None),  # a non-ASCII digit: str.isdigit() says yes, Go's Atoi says no
    ],
)
def test_versions_parse_numerically_like_dockerd(text: str, parsed: tuple[int, ...] | None) -> None:
    assert parse_version(text) == parsed


def test_version_1_9_is_below_1_24_numerically_not_as_text() -> None:
    refusal = version_refusal(make_request("GET", "/v1.9/info"), FLOOR)
    assert refusal is not None
    assert refusal[0] == "api_version_too_old"
    assert "1.9" in refusal[1] and "1.24" in refusal[1]


@pytest.mark.parametrize("target", ["/v1.24/info", "/v1.041/info", "/v1.41.0/info", "/v01.45/info"])
def test_versions_at_or_above_the_floor_pass(target: str) -> None:
    assert version_refusal(make_request("GET", target), FLOOR) is None


@pytest.mark.parametrize("target", ["/v1.12/info", "/v1.23.9/info", "/v0.99/info", "/v1/info"])
def test_versions_below_the_floor_are_refused(target: str) -> None:
    refusal = version_refusal(make_request("GET", target), FLOOR)
    assert refusal is not None and refusal[0] == "api_version_too_old"


@pytest.mark.parametrize("target", ["/v1..41/info", "/v./info", "/v1.41./info"])
def test_version_text_go_would_misread_is_refused(target: str) -> None:
    refusal = version_refusal(make_request("GET", target), FLOOR)
    assert refusal is not None and refusal[0] == "bad_api_version"


def test_a_path_without_version_means_the_current_version() -> None:
    assert version_refusal(make_request("GET", "/info"), FLOOR) is None
    assert version_refusal(make_request("HEAD", "/_ping"), FLOOR) is None


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded",
        "Application/X-WWW-Form-URLEncoded",
        "application/x-www-form-urlencoded; charset=utf-8",
        " application/x-www-form-urlencoded ;charset=x",
        "multipart/form-data; boundary=xyz",
    ],
)
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_form_bodies_are_refused(content_type: str, method: str) -> None:
    request = make_request(
        method, "/v1.41/containers/create", b"all=1", [f"Content-Type: {content_type}"]
    )
    refusal = form_body_refusal(request)
    assert refusal is not None and refusal[0] == "form_body"


def test_form_content_type_in_a_second_header_is_refused_too() -> None:
    headers = ["Content-Type: application/json", "Content-Type: application/x-www-form-urlencoded"]
    request = make_request("POST", "/v1.41/containers/create", b"{}", headers)
    assert form_body_refusal(request) is not None


@pytest.mark.parametrize(
    ("method", "content_type"),
    [
        ("POST", "application/json"),
        ("POST", "application/x-tar"),
        (
            "GET",
            "application/x-www-form-urlencoded",
        ),  # Go parses form bodies of POST/PUT/PATCH only
    ],
)
def test_other_bodies_pass(method: str, content_type: str) -> None:
    request = make_request(
        method, "/v1.41/containers/create", b"{}", [f"Content-Type: {content_type}"]
    )
    assert form_body_refusal(request) is None


def test_repeated_parameter_names_the_first_repeat_among_those_read() -> None:
    request = make_request("GET", "/v1.41/containers/json?all=1&size=0&all=0&limit=1&limit=2")
    assert repeated_parameter(request, ["size", "all"]) == "all"
    assert repeated_parameter(request, ["size"]) is None
    assert repeated_parameter(request, ["limit"]) == "limit"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        ("", False),
        ("0", False),
        ("no", False),
        ("false", False),
        ("none", False),
        ("NONE", False),
        ("False", False),
        (" no\t", False),
        ("\u00a0false", False),  # Go's TrimSpace strips NBSP
        ("1", True),
        ("yes", True),
        ("true", True),
        ("2", True),
        ("off", True),  # not in dockerd's list
        ("\x1f0", True),  # Go does not trim U+001F (Python's strip() would)
        ("f", True),
    ],
)
def test_query_booleans_follow_dockerds_rule(value: str | None, expected: bool) -> None:
    assert query_bool(value) is expected
