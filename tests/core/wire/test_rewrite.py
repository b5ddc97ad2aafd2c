"""Ownership's byte surgery on a request: only the named parameter or the body and its
framing change; every other byte of the head stays as the client sent it."""

from __future__ import annotations

import pytest

from sockspy.core.wire import rewrite
from sockspy.core.wire.framing import Chunked, FixedLength, NoBody, reader_for
from sockspy.core.wire.head import parse_request_head
from sockspy.core.wire.rewrite import RewriteError, with_body, with_query_value
from sockspy.core.wire.target import parse_target

HEAD = (
    b"GET /v1.41/containers/json?all=1&filters=%7B%7D&size=0 HTTP/1.1\r\n"
    b"Host: x\r\nX-Odd:  kept \r\n\r\n"
)


def test_a_query_value_is_replaced_in_place_and_the_rest_of_the_head_is_kept() -> None:
    out = with_query_value(HEAD, "filters", '{"label":{"a=b":true}}')
    line, rest = out.split(b"\r\n", 1)
    assert rest == HEAD.split(b"\r\n", 1)[1]
    target = parse_target(line.split(b" ")[1].decode())
    assert target.path == "/v1.41/containers/json"
    assert target.params == (("all", "1"), ("filters", '{"label":{"a=b":true}}'), ("size", "0"))
    assert parse_request_head(out).target == line.split(b" ")[1].decode()


def test_a_missing_parameter_is_appended_and_a_target_without_query_gets_one() -> None:
    out = with_query_value(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n", "filters", "{}")
    assert out.startswith(b"GET /events?filters=%7B%7D HTTP/1.1\r\n")
    out = with_query_value(b"GET /events?since=1 HTTP/1.1\r\n\r\n", "filters", "{}")
    assert out.startswith(b"GET /events?since=1&filters=%7B%7D HTTP/1.1\r\n")


def test_a_parameter_is_found_by_its_decoded_name() -> None:
    out = with_query_value(b"GET /events?filt%65rs=x HTTP/1.1\r\n\r\n", "filters", "y")
    assert out.startswith(b"GET /events?filters=y HTTP/1.1")


def test_a_repeated_parameter_is_refused() -> None:
    with pytest.raises(RewriteError):
        with_query_value(b"GET /events?filters=a&filters=b HTTP/1.1\r\n\r\n", "filters", "c")


def test_a_new_body_gets_its_content_length_fixed_and_nothing_else() -> None:
    head = b"POST /containers/create HTTP/1.1\r\nHost: x\r\ncontent-LENGTH: 2\r\nA: b\r\n\r\n"
    new_head, raw = with_body(head, FixedLength(2), b'{"a":1}')
    assert new_head == head.replace(b"content-LENGTH: 2", b"content-LENGTH: 7")
    assert raw == b'{"a":1}'
    assert parse_request_head(new_head).framing == FixedLength(7)


def test_a_chunked_body_is_reframed_as_one_chunk_that_a_chunked_reader_reads_back() -> None:
    head = b"POST /build HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    same, raw = with_body(head, Chunked(), b"hello body")
    assert same == head
    reader = reader_for(Chunked(), collect=True)
    assert reader.feed(raw) == len(raw) and reader.done
    assert bytes(reader.collected or b"") == b"hello body"


def test_a_request_without_a_body_cannot_be_given_one() -> None:
    with pytest.raises(RewriteError):
        with_body(b"POST /volumes/create HTTP/1.1\r\n\r\n", NoBody(), b"{}")


def test_a_container_named_in_the_path_is_pinned_to_its_id_and_nothing_else_moves() -> None:
    head = b"POST /v1.41/containers/ab/stop?t=0 HTTP/1.1\r\nHost: d\r\n\r\n"
    pinned = rewrite.with_container_in_path(head, "ab", "ab12" + "0" * 60)
    assert (
        pinned
        == b"POST /v1.41/containers/ab12" + b"0" * 60 + b"/stop?t=0 HTTP/1.1\r\nHost: d\r\n\r\n"
    )
    bare = b"GET /containers/ab/json HTTP/1.1\r\n\r\n"
    assert rewrite.with_container_in_path(bare, "ab", "f" * 64).startswith(b"GET /containers/fff")
    with pytest.raises(rewrite.RewriteError):  # written percent-encoded: refused, not guessed
        rewrite.with_container_in_path(b"GET /containers/%61b/json HTTP/1.1\r\n\r\n", "ab", "f")
