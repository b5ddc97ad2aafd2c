"""The fast head parsers give h11's answer, or step aside for h11.

Every head is parsed both ways: when the fast path answers, its answer must equal the
h11 path's (the same head fields, or the same refusal); when it steps aside, the h11
path decides alone. A second set of tests makes sure the fast path really answers for
what Docker clients and dockerd send, so that it cannot silently stop being used.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sockspy.core.wire.head import (
    ProtocolError,
    RequestHead,
    ResponseHead,
    _fast_request,
    _fast_response,
    _h11_request,
    _h11_response,
)

CLI_REQUESTS = [
    b"HEAD /_ping HTTP/1.1\r\nHost: api.moby.localhost\r\nUser-Agent: Docker-Client/28.2.2 "
    b"(linux)\r\n\r\n",
    b"POST /v1.41/containers/create?name=web HTTP/1.1\r\nHost: api.moby.localhost\r\n"
    b"User-Agent: Docker-Client/28.2.2 (linux)\r\nContent-Length: 1734\r\n"
    b"Content-Type: application/json\r\n\r\n",
    b"POST /v1.41/build?t=x HTTP/1.1\r\nHost: api.moby.localhost\r\nTransfer-Encoding: chunked"
    b"\r\nContent-Type: application/x-tar\r\n\r\n",
    b"POST /v1.41/exec/abc/start HTTP/1.1\r\nHost: api.moby.localhost\r\nConnection: Upgrade\r\n"
    b"Upgrade: tcp\r\nContent-Length: 27\r\n\r\n",
    b"GET /_ping HTTP/1.0\r\n\r\n",
]
DAEMON_RESPONSES = [
    (
        b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nCache-Control: no-cache, no-store, "
        b"must-revalidate\r\nContent-Length: 2\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Docker-Experimental: false\r\nOstype: linux\r\nPragma: no-cache\r\n"
        b"Server: Docker/20.10.24+dfsg1 (linux)\r\nDate: Sat, 28 Nov 2026 13:00:00 GMT\r\n\r\n",
        "GET",
        False,
    ),
    (b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n", "POST", True),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "GET", False),
    (b"HTTP/1.1 204 No Content\r\nServer: Docker\r\n\r\n", "POST", False),
]


def _outcome_request(head: bytes) -> RequestHead | tuple[int, str]:
    try:
        return _h11_request(head)
    except ProtocolError as exc:
        return (exc.status, exc.code)


def _outcome_fast_request(head: bytes) -> RequestHead | tuple[int, str] | None:
    try:
        return _fast_request(head)
    except ProtocolError as exc:
        return (exc.status, exc.code)


def test_the_fast_path_answers_for_what_the_docker_cli_sends() -> None:
    for head in CLI_REQUESTS:
        fast = _fast_request(head)
        assert fast is not None, head
        assert fast == _h11_request(head)


def test_the_fast_path_answers_for_what_dockerd_sends() -> None:
    for head, method, upgrade in DAEMON_RESPONSES:
        fast = _fast_response(head, method, upgrade)
        assert fast is not None, head
        assert fast == _h11_response(head, method, upgrade)


# Pieces chosen to sit on every edge of the fast subset: case, whitespace, obs-text,
# control bytes, repeated and odd framing headers, versions and targets h11 refuses.
METHODS = [b"GET", b"POST", b"get", b"PoST", b"M-SEARCH", b"G@T", b""]
TARGETS = [b"/_ping", b"/v1.41/containers/json?all=1", b"*", b"http://x/", b"/a b", b"/\x7f", b""]
VERSIONS = [b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.2", b"http/1.1", b"HTTP/1.1 "]
NAMES = [
    b"Host",
    b"host",
    b"Content-Length",
    b"content-length",
    b"Transfer-Encoding",
    b"Connection",
    b"Upgrade",
    b"X-Thing",
    b"Bad Name",
    b"",
]
VALUES = [
    b"api.moby.localhost",
    b"5",
    b"0",
    b"05",
    b"5, 5",
    b" 5 ",
    b"-1",
    b"chunked",
    b"Chunked",
    b"gzip, chunked",
    b"close",
    b"keep-alive",
    b"Upgrade",
    b"tcp",
    b"a  b\tc",
    b"\tx\t",
    b"",
    b"\x80\xff",
    b"x\x01y",
    b"x\x00y",
    b"12345678901234567890",
]

header_lines = st.lists(
    st.tuples(st.sampled_from(NAMES), st.sampled_from([b":", b": ", b":\t", b" :"]),
              st.sampled_from(VALUES)),
    max_size=6,
)  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(
    st.sampled_from(METHODS),
    st.sampled_from(TARGETS),
    st.sampled_from(VERSIONS),
    header_lines,
)
def test_fast_request_parsing_agrees_with_h11(
    method: bytes, target: bytes, version: bytes, headers: list[tuple[bytes, bytes, bytes]]
) -> None:
    head = method + b" " + target + b" " + version + b"\r\n"
    head += b"".join(name + sep + value + b"\r\n" for name, sep, value in headers) + b"\r\n"
    fast = _outcome_fast_request(head)
    if fast is not None:
        assert fast == _outcome_request(head)


STATUS_LINES = [
    b"HTTP/1.1 200 OK",
    b"HTTP/1.0 200 OK",
    b"HTTP/1.1 101 UPGRADED",
    b"HTTP/1.1 100 Continue",
    b"HTTP/1.1 204 No Content",
    b"HTTP/1.1 304 Not Modified",
    b"HTTP/1.1 099 Low",
    b"HTTP/1.1 200",
    b"HTTP/1.1 200 ",
    b"HTTP/1.1 600 Odd",
    b"HTTP/2.0 200 OK",
    b"HTTP/1.1 200 \x80",
]


def _outcome_response(
    head: bytes, method: str, upgrade: bool, fast: bool
) -> ResponseHead | tuple[int, str] | None:
    try:
        if fast:
            return _fast_response(head, method, upgrade)
        return _h11_response(head, method, upgrade)
    except ProtocolError as exc:
        return (exc.status, exc.code)


@settings(max_examples=3000, deadline=None)
@given(
    st.sampled_from(STATUS_LINES),
    header_lines,
    st.sampled_from(["GET", "HEAD", "POST"]),
    st.booleans(),
)
def test_fast_response_parsing_agrees_with_h11(
    status_line: bytes, headers: list[tuple[bytes, bytes, bytes]], method: str, upgrade: bool
) -> None:
    head = status_line + b"\r\n"
    head += b"".join(name + sep + value + b"\r\n" for name, sep, value in headers) + b"\r\n"
    fast = _outcome_response(head, method, upgrade, fast=True)
    if fast is not None:
        assert fast == _outcome_response(head, method, upgrade, fast=False)
