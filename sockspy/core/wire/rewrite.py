"""Changing the bytes of a request or response where the policy says so, and nothing else.

sockspy forwards what the client and the daemon sent. Two documented exceptions change
bytes: ownership (`sockspy.policy.ownership`) puts the owner label in a create body and
the owner filter in a list, prune or events query; redaction
(`sockspy.core.docker.redaction`) rewrites a container inspect or list answer. These
functions make exactly that change and leave every other byte as it was:

* `with_query_value` replaces the raw value of one query parameter (or appends the
  parameter), keeping the path and every other pair byte for byte;
* `with_body` swaps a buffered request body and fixes its framing: a new Content-Length
  value in place, or for a chunked body one chunk and the last chunk (trailers are
  dropped: dockerd reads none);
* `response_with_body` frames a rewritten response body with a Content-Length.

Each refuses (`RewriteError`) a head it cannot change unambiguously; the caller then
refuses the request (or withholds the response), it never forwards it unchanged.
"""

from __future__ import annotations

from urllib.parse import quote

from sockspy.core.wire.framing import BodyFraming, Chunked, FixedLength
from sockspy.core.wire.target import parse_query

# What Go's url.QueryEscape leaves alone, besides letters and digits.
_QUERY_SAFE = "-_.~"


class RewriteError(ValueError):
    """The head cannot be changed without guessing."""


def with_query_value(head: bytes, name: str, value: str) -> bytes:
    """`head` with the query parameter `name` set to `value` (percent-encoded).

    The parameter must appear at most once (a repeat is refused: Go reads the first,
    and which one a rule saw must not be in doubt).
    """
    pairs = _query_pairs(head)
    at = [i for i, pair in enumerate(pairs) if pair and parse_query(pair)[0][0] == name]
    if len(at) > 1:
        raise RewriteError(f"query parameter {name!r} is repeated")
    if at:
        pairs[at[0]] = _pair(name, value)
    else:
        pairs.append(_pair(name, value))
    return _with_query(head, pairs)


def with_query_added(head: bytes, name: str, value: str) -> bytes:
    """`head` with one more value of the repeatable query parameter `name`, after every
    value it has (Go's ``url.Values`` keeps them in order)."""
    return _with_query(head, [*_query_pairs(head), _pair(name, value)])


def with_container_in_path(head: bytes, name: str, container_id: str) -> bytes:
    """`head` with the container its path names as `name` (the segment after
    ``containers``, written as is) named by `container_id` instead. A name written
    otherwise (percent-encoded) raises RewriteError: the request is refused."""
    line, sep, rest = head.partition(b"\r\n")
    method, target, version = _request_line(line)
    path, question, query = target.partition("?")
    segments = path.split("/")
    at = [i for i in range(1, len(segments)) if segments[i - 1] == "containers"]
    if not at or segments[at[0]] != name:
        raise RewriteError(f"the path does not name the container {name!r} as written")
    segments[at[0]] = container_id
    target = "/".join(segments) + (question + query)
    return f"{method} {target} {version}".encode("ascii") + sep + rest


def _query_pairs(head: bytes) -> list[str]:
    """The raw ``name=value`` pairs of the head's request target, as written."""
    _, target, _ = _request_line(head.partition(b"\r\n")[0])
    _, question, query = target.partition("?")
    return query.split("&") if question else []


def _pair(name: str, value: str) -> str:
    return f"{quote(name, safe=_QUERY_SAFE)}={quote(value, safe=_QUERY_SAFE)}"


def _with_query(head: bytes, pairs: list[str]) -> bytes:
    """`head` with its target's query made of `pairs` (the rest of the head untouched)."""
    line, sep, rest = head.partition(b"\r\n")
    method, target, version = _request_line(line)
    path = target.partition("?")[0]
    return f"{method} {path}?{'&'.join(pairs)} {version}".encode("ascii") + sep + rest


def with_body(head: bytes, framing: BodyFraming, body: bytes) -> tuple[bytes, bytes]:
    """(head, raw body) that carry `body` in place of the request's own.

    A Content-Length body gets its one Content-Length line's value replaced; a chunked
    one is re-framed as a single chunk. A request that had no body cannot be given one
    here (it would need a header of its own): that is refused.
    """
    if isinstance(framing, Chunked):
        raw = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"
        return head, raw
    if not isinstance(framing, FixedLength):
        raise RewriteError("the request has no body to change")
    lines = head.split(b"\r\n")
    found = [
        i for i, line in enumerate(lines) if line.partition(b":")[0].lower() == b"content-length"
    ]
    if len(found) != 1:
        raise RewriteError("the request does not have exactly one Content-Length header")
    name = lines[found[0]].partition(b":")[0]
    lines[found[0]] = name + b": " + str(len(body)).encode("ascii")
    return b"\r\n".join(lines), body


def _request_line(line: bytes) -> tuple[str, str, str]:
    parts = line.decode("latin-1").split(" ")
    if len(parts) != 3:
        raise RewriteError("the request line is not METHOD TARGET VERSION")
    method, target, version = parts
    return method, target, version


def response_with_body(head: bytes, body: bytes) -> bytes:
    """A response head that frames `body` with a Content-Length of its own: any
    Content-Length or Transfer-Encoding line is dropped and one Content-Length added
    (the body was buffered whole, so its new length is known)."""
    return _reframed(head, b"Content-Length: " + str(len(body)).encode("ascii"))


def response_chunked(head: bytes) -> bytes:
    """A response head whose body leaves chunked (rewritten as it streams, its length
    unknown): any Content-Length or Transfer-Encoding line is replaced."""
    return _reframed(head, b"Transfer-Encoding: chunked")


def chunk(data: bytes) -> bytes:
    """`data` as one chunk of a chunked body (empty: the last chunk)."""
    if not data:
        return b"0\r\n\r\n"
    return b"%x\r\n" % len(data) + data + b"\r\n"


def _reframed(head: bytes, framing: bytes) -> bytes:
    lines = head.split(b"\r\n")
    if len(lines) < 3 or lines[-2:] != [b"", b""]:
        raise RewriteError("not a complete response head")
    kept = [
        line
        for line in lines[1:-2]
        if line.partition(b":")[0].strip().lower() not in (b"content-length", b"transfer-encoding")
    ]
    return b"\r\n".join([lines[0], *kept, framing, b"", b""])
