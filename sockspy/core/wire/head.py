"""Message heads: find where one ends, parse it with h11, refuse what is ambiguous.

sockspy never re-serializes a head: it finds the exact span of the head bytes in the
stream, has h11 parse a copy of that span, and forwards the original span untouched.
h11 is a fine parser but more lenient than a guard can be, so the checks it does not make
live here:

* a bare LF anywhere in a head (h11 accepts it; so does Go, but not always alike);
* obsolete line folding (header continuation lines);
* Content-Length together with Transfer-Encoding, or repeated framing headers;
* Transfer-Encoding on an HTTP/1.0 request (Go ignores it; h11 honours it: smuggling);
* a head larger than the cap (h11 does not cap a head that arrives in one read).

Every exception raised while parsing, whatever its type, becomes a `ProtocolError`:
h11 has states in which it raises `AttributeError`.

Fast path: h11 builds a connection object and runs its state machine for every head,
which costs tens of microseconds. The heads Docker clients and dockerd actually send
fall in a narrow, plain subset (upper-case method, origin-form target, HTTP/1.0 or 1.1,
printable ASCII header values, at most one simple framing header). `_fast_request` and
`_fast_response` recognise exactly that subset with one regex per line and build the
same result h11 would; anything outside it, however legal, goes to h11. A differential
test (tests/core/wire/test_head_fast.py) holds the two paths to the same answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import h11

from sockspy.core.wire.framing import BodyFraming, Chunked, FixedLength, NoBody, UntilClose

# Go's http.Server default (DefaultMaxHeaderBytes is 1 MiB); registry auth and build
# configuration headers can be tens of KiB, so a small cap would break real clients.
MAX_HEAD_BYTES = 1024 * 1024

Headers = tuple[tuple[bytes, bytes], ...]


_DEFAULT_CODES = {
    400: "malformed_request",
    413: "body_too_large",
    431: "head_too_large",
    501: "unsupported_framing",
    502: "daemon_protocol_error",
    505: "unsupported_http_version",
}


class ProtocolError(Exception):
    """Input that cannot be parsed exactly as dockerd would; answer `status` and close.

    `code` is the stable reason code of the audit record.
    """

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _DEFAULT_CODES.get(status, "malformed_request")


def find_head_end(buf: bytes | bytearray, limit: int = MAX_HEAD_BYTES) -> int | None:
    """Offset just past the blank line that ends the head in `buf`; None if incomplete."""
    end = buf.find(b"\r\n\r\n")
    if end >= 0:
        if end + 4 > limit:
            raise ProtocolError(431, f"request head larger than {limit} bytes")
        return end + 4
    # h11 and Go also end a head at "\n\n" or "\n\r\n"; refuse instead of waiting.
    if b"\n\n" in buf:
        raise ProtocolError(400, "bare LF in message head", "ambiguous_framing")
    lf_crlf = buf.find(b"\n\r\n")
    if lf_crlf == 0 or (lf_crlf > 0 and buf[lf_crlf - 1] != 0x0D):
        raise ProtocolError(400, "bare LF in message head", "ambiguous_framing")
    if len(buf) > limit:
        raise ProtocolError(431, f"request head larger than {limit} bytes")
    return None


def _check_line_endings(head: bytes) -> None:
    if head.count(b"\n") != head.count(b"\r\n"):
        raise ProtocolError(400, "bare LF in message head", "ambiguous_framing")
    if b"\r\n " in head or b"\r\n\t" in head:
        raise ProtocolError(400, "obsolete line folding in message head", "ambiguous_framing")


def _header_values(headers: Headers, name: bytes) -> list[bytes]:
    return [value for key, value in headers if key == name]


def _has_token(headers: Headers, name: bytes, token: bytes) -> bool:
    for value in _header_values(headers, name):
        if any(part.strip().lower() == token for part in value.split(b",")):
            return True
    return False


@dataclass(frozen=True, slots=True)
class RequestHead:
    method: str
    target: str
    http_version: str
    headers: Headers  # names lower-cased by h11, values as sent
    framing: BodyFraming
    upgrade: bool  # carries an Upgrade header (dockerd hijacks on any value)
    keep_alive: bool


def parse_request_head(head: bytes) -> RequestHead:
    """Parse one complete request head (as delimited by `find_head_end`)."""
    fast = _fast_request(head)
    if fast is not None:
        return fast
    return _h11_request(head)


def _h11_request(head: bytes) -> RequestHead:
    _check_line_endings(head)
    try:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=len(head) + 1)
        conn.receive_data(head)
        event = conn.next_event()
    except Exception as exc:  # any parser failure is a protocol error, whatever its type
        raise ProtocolError(400, f"malformed request: {exc}") from None
    if not isinstance(event, h11.Request):
        raise ProtocolError(400, "malformed request head")
    http_version = event.http_version.decode("ascii")
    if http_version not in ("1.0", "1.1"):
        raise ProtocolError(505, f"HTTP/{http_version} is not supported")
    headers: Headers = tuple((bytes(k), bytes(v)) for k, v in event.headers)
    framing = _request_framing(_raw_framing_headers(head), http_version)
    connection_close = _has_token(headers, b"connection", b"close")
    keep_alive = not connection_close and (
        http_version == "1.1" or _has_token(headers, b"connection", b"keep-alive")
    )
    return RequestHead(
        method=event.method.decode("ascii"),
        target=event.target.decode("ascii"),
        http_version=http_version,
        headers=headers,
        framing=framing,
        upgrade=bool(_header_values(headers, b"upgrade")),
        keep_alive=keep_alive,
    )


def _raw_framing_headers(head: bytes) -> Headers:
    """Content-Length and Transfer-Encoding lines exactly as sent.

    h11 folds repeated Content-Length headers (and "5, 5") into one value; Go does not
    always agree, so framing is judged on the raw lines, not on h11's normalized view.
    """
    found = []
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.lower()
        if name in (b"content-length", b"transfer-encoding"):
            found.append((name, value.strip(b" \t")))
    return tuple(found)


def _request_framing(headers: Headers, http_version: str) -> BodyFraming:
    """RFC 9112 6.3 for requests, refusing every case where two parsers could differ."""
    lengths = _header_values(headers, b"content-length")
    encodings = _header_values(headers, b"transfer-encoding")
    if encodings and http_version == "1.0":
        raise ProtocolError(400, "Transfer-Encoding on an HTTP/1.0 request", "ambiguous_framing")
    if encodings and lengths:
        raise ProtocolError(400, "both Content-Length and Transfer-Encoding", "ambiguous_framing")
    if len(encodings) > 1 or len(lengths) > 1:
        raise ProtocolError(400, "repeated framing header", "ambiguous_framing")
    if encodings:
        if encodings[0].strip().lower() != b"chunked":
            raise ProtocolError(501, "only Transfer-Encoding: chunked is supported")
        return Chunked()
    if lengths:
        if not lengths[0].isdigit() or len(lengths[0]) > 18:
            raise ProtocolError(400, "bad Content-Length", "ambiguous_framing")
        length = int(lengths[0])
        return FixedLength(length) if length else NoBody()
    return NoBody()


@dataclass(frozen=True, slots=True)
class ResponseHead:
    status: int
    http_version: str
    headers: Headers
    framing: BodyFraming

    @property
    def informational(self) -> bool:
        return 100 <= self.status < 200


def parse_response_head(head: bytes, request_method: str, request_upgrade: bool) -> ResponseHead:
    """Parse one complete response head to a request made with `request_method`."""
    fast = _fast_response(head, request_method, request_upgrade)
    if fast is not None:
        return fast
    return _h11_response(head, request_method, request_upgrade)


def _h11_response(head: bytes, request_method: str, request_upgrade: bool) -> ResponseHead:
    _check_line_endings(head)
    try:
        conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=len(head) + 1)
        request_headers = [(b"host", b"docker")]
        if request_upgrade:
            request_headers += [(b"connection", b"upgrade"), (b"upgrade", b"tcp")]
        conn.send(h11.Request(method=request_method, target="/", headers=request_headers))
        conn.send(h11.EndOfMessage())
        conn.receive_data(head)
        event = conn.next_event()
    except Exception as exc:  # any parser failure is a protocol error, whatever its type
        raise ProtocolError(502, f"malformed response from the daemon: {exc}") from None
    if not isinstance(event, h11.Response | h11.InformationalResponse):
        raise ProtocolError(502, "malformed response head from the daemon")
    headers: Headers = tuple((bytes(k), bytes(v)) for k, v in event.headers)
    return ResponseHead(
        status=event.status_code,
        http_version=event.http_version.decode("ascii"),
        headers=headers,
        framing=_response_framing(event.status_code, headers, request_method),
    )


def _response_framing(status: int, headers: Headers, request_method: str) -> BodyFraming:
    """RFC 9112 6.3 for responses."""
    if request_method == "HEAD" or status < 200 or status in (204, 304):
        return NoBody()
    encodings = _header_values(headers, b"transfer-encoding")
    if encodings:
        last = encodings[-1].split(b",")[-1].strip().lower()
        return Chunked() if last == b"chunked" else UntilClose()
    lengths = _header_values(headers, b"content-length")
    if lengths:
        length = int(lengths[0])
        return FixedLength(length) if length else NoBody()
    return UntilClose()


# -- the fast path ----------------------------------------------------------------------

_REQUEST_LINE = re.compile(rb"([A-Z]+) (/[\x21-\x7e]*) HTTP/1\.([01])\r\n")
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([1-5][0-9][0-9]) [\x20-\x7e]*\r\n")
# A header line whose value is printable ASCII, single spaces or tabs inside, and the
# optional whitespace around it (which h11 strips) outside the value group.
_HEADER_LINE = re.compile(
    rb"([-!#$%&'*+.^_`|~0-9a-zA-Z]+):[ \t]*((?:[\x21-\x7e]+(?:[ \t]+[\x21-\x7e]+)*)?)[ \t]*\r\n"
)


def _fast_headers(head: bytes, pos: int) -> list[tuple[bytes, bytes]] | None:
    """The header lines from `pos` to the blank line, names lower-cased; None if any line
    is outside the plain subset or a framing header is anything but plain."""
    headers: list[tuple[bytes, bytes]] = []
    end = len(head) - 2  # the final CRLF of the blank line
    match = _HEADER_LINE.match
    framing = 0
    while pos < end:
        line = match(head, pos, end + 2)
        if line is None:
            return None
        name = line.group(1).lower()
        value = line.group(2)
        if name == b"content-length":
            if not value.isdigit() or len(value) > 18:
                return None
            framing += 1
        elif name == b"transfer-encoding":
            value = value.lower()  # as h11 stores it
            if value != b"chunked":
                return None
            framing += 1
        headers.append((name, value))
        pos = line.end()
    if pos != end or framing > 1:
        return None
    return headers


def _fast_request(head: bytes) -> RequestHead | None:
    line = _REQUEST_LINE.match(head)
    if line is None or not head.endswith(b"\r\n\r\n"):
        return None
    headers = _fast_headers(head, line.end())
    if headers is None:
        return None
    http_version = "1.1" if line.group(3) == b"1" else "1.0"
    hosts = sum(1 for name, _ in headers if name == b"host")
    if hosts > 1 or (hosts == 0 and http_version == "1.1"):
        return None  # h11 refuses these; let it say why
    frozen = tuple(headers)
    framing = _request_framing(frozen, http_version)
    connection_close = _has_token(frozen, b"connection", b"close")
    return RequestHead(
        method=line.group(1).decode("ascii"),
        target=line.group(2).decode("ascii"),
        http_version=http_version,
        headers=frozen,
        framing=framing,
        upgrade=bool(_header_values(frozen, b"upgrade")),
        keep_alive=not connection_close
        and (http_version == "1.1" or _has_token(frozen, b"connection", b"keep-alive")),
    )


def _fast_response(head: bytes, request_method: str, request_upgrade: bool) -> ResponseHead | None:
    line = _STATUS_LINE.match(head)
    if line is None or not head.endswith(b"\r\n\r\n"):
        return None
    status = int(line.group(2))
    if status == 101 and not request_upgrade:
        return None  # h11 refuses a 101 nobody asked for
    headers = _fast_headers(head, line.end())
    if headers is None:
        return None
    frozen = tuple(headers)
    return ResponseHead(
        status=status,
        http_version="1.1" if line.group(1) == b"1" else "1.0",
        headers=frozen,
        framing=_response_framing(status, frozen, request_method),
    )
