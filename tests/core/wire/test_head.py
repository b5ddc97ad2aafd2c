"""Head parsing: exact spans, and refusal of everything two parsers could read apart."""

from __future__ import annotations

import pytest

from sockspy.core.wire.framing import Chunked, FixedLength, NoBody, UntilClose
from sockspy.core.wire.head import (
    ProtocolError,
    find_head_end,
    parse_request_head,
    parse_response_head,
)


def test_head_end_is_found_after_the_blank_line() -> None:
    data = b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\nGET /next"
    assert find_head_end(data) == data.index(b"GET /next")


def test_incomplete_head_waits_for_more_bytes() -> None:
    assert find_head_end(b"GET /_ping HTTP/1.1\r\nHost: x\r\n") is None


@pytest.mark.parametrize(
    "data", [b"GET / HTTP/1.1\nHost: x\n\n", b"GET / HTTP/1.1\r\nHost: x\n\r\n"]
)
def test_head_ending_in_bare_lf_is_refused(data: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        find_head_end(data)
    assert info.value.status == 400


def test_oversized_head_is_refused_with_431_even_in_one_read() -> None:
    data = b"GET / HTTP/1.1\r\nX: " + b"a" * 5000 + b"\r\n\r\n"
    with pytest.raises(ProtocolError) as info:
        find_head_end(data, limit=4096)
    assert info.value.status == 431


@pytest.mark.parametrize(
    ("head", "framing"),
    [
        (b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n", NoBody()),
        (b"POST /build HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", Chunked()),
        (b"POST /build HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n", Chunked()),
        (b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n", FixedLength(12)),
        (b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", NoBody()),
    ],
)
def test_request_framing_follows_rfc_9112(head: bytes, framing: object) -> None:
    assert parse_request_head(head).framing == framing


@pytest.mark.parametrize(
    "head",
    [
        b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST /x HTTP/1.0\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
        b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\n",
        b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\n",
        b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"POST /x HTTP/1.1\r\nHost: x\r\n"
        b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET /x HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n",
        b"GET /x HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n",
        b"GET /x HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host
        b"GET /x HTTP/2.0\r\nHost: x\r\n\r\n",
        b"GET /x\r\n\r\n",  # HTTP/0.9
        b"GET  /x HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /x HTTP/1.1\r\nHost : x\r\n\r\n",
    ],
)
def test_ambiguous_or_malformed_request_heads_are_refused(head: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_request_head(head)


def test_upgrade_and_keep_alive_are_read_from_the_head() -> None:
    head = parse_request_head(
        b"POST /v1.41/exec/abc/start HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
        b"Upgrade: tcp\r\nContent-Length: 2\r\n\r\n"
    )
    assert head.upgrade and head.keep_alive
    closing = parse_request_head(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert not closing.keep_alive
    assert not parse_request_head(b"GET / HTTP/1.0\r\n\r\n").keep_alive


@pytest.mark.parametrize(
    ("head", "method", "framing"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", "GET", FixedLength(3)),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", "HEAD", NoBody()),
        (b"HTTP/1.1 204 No Content\r\n\r\n", "POST", NoBody()),
        (b"HTTP/1.1 304 Not Modified\r\n\r\n", "GET", NoBody()),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "GET", Chunked()),
        (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n", "GET", UntilClose()),
        (b"HTTP/1.1 100 Continue\r\n\r\n", "POST", NoBody()),
    ],
)
def test_response_framing_follows_rfc_9112(head: bytes, method: str, framing: object) -> None:
    assert parse_response_head(head, method, request_upgrade=False).framing == framing


def test_101_is_accepted_only_for_a_request_that_asked_to_upgrade() -> None:
    head = b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    assert parse_response_head(head, "POST", request_upgrade=True).status == 101
    with pytest.raises(ProtocolError):
        parse_response_head(head, "POST", request_upgrade=False)
