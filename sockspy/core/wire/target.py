"""The request target, read the way dockerd's router reads it.

Go's net/http percent-decodes the path before gorilla/mux routes it, so an encoded
letter or an encoded "/" reaches the real handler. sockspy therefore names endpoints
from the decoded path, and refuses targets whose meaning could differ between the two:
absolute-form and asterisk-form targets, fragments (Go keeps "#..." in the path),
invalid percent-escapes, and paths that are not canonical (dockerd answers those with a
301 and runs no handler, so nothing legitimate is lost by refusing them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sockspy.core.wire.head import ProtocolError

_PERCENT = re.compile(rb"%([0-9A-Fa-f]{2})")


@dataclass(frozen=True, slots=True)
class Target:
    raw: str
    path: str  # as sent, before "?"
    query: str  # as sent, after "?" ("" when absent)
    decoded_path: str
    params: tuple[tuple[str, str], ...] = ()  # the decoded query, in order, repeats kept


def percent_decode(text: str, what: str = "path") -> str:
    """Strict percent-decoding to UTF-8; a stray "%" or invalid UTF-8 is refused."""
    raw = text.encode("ascii")
    if b"%" not in raw:
        return text
    decoded = _PERCENT.sub(lambda m: bytes([int(m.group(1), 16)]), raw)
    if raw.count(b"%") != len(_PERCENT.findall(raw)):
        raise ProtocolError(
            400, f"invalid percent-encoding in the request {what}", "non_canonical_target"
        )
    try:
        return decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(
            400, f"percent-encoded {what} is not valid UTF-8", "non_canonical_target"
        ) from None


def parse_target(raw: str) -> Target:
    if not raw.startswith("/"):
        raise ProtocolError(
            400, "only origin-form request targets (/path) are accepted", "non_canonical_target"
        )
    if "#" in raw:
        raise ProtocolError(400, "a fragment (#) in the request target", "non_canonical_target")
    path, _, query = raw.partition("?")
    decoded = percent_decode(path)
    if "\x00" in decoded or not _is_canonical(decoded):
        raise ProtocolError(400, "non-canonical request path", "non_canonical_target")
    return Target(raw=raw, path=path, query=query, decoded_path=decoded, params=parse_query(query))


def parse_query(query: str) -> tuple[tuple[str, str], ...]:
    """Go's url.ParseQuery, minus its leniency: what Go would drop or report is refused.

    Pairs split on "&"; "+" is a space; a key without "=" has the value "". Go (1.17+)
    rejects ";" separators and stray "%", skipping the pair while dockerd reads the rest:
    sockspy refuses the request instead of guessing which pairs survived.
    """
    params = []
    for pair in query.split("&"):
        if not pair:
            continue
        if ";" in pair:
            raise ProtocolError(400, "';' in the query string", "non_canonical_target")
        key, _, value = pair.partition("=")
        params.append((_query_unescape(key), _query_unescape(value)))
    return tuple(params)


def _query_unescape(text: str) -> str:
    return percent_decode(text.replace("+", " "), what="query")


def _is_canonical(path: str) -> bool:
    """What Go's path.Clean leaves unchanged (dockerd redirects every other path)."""
    if "//" in path:
        return False
    segments = path.split("/")[1:]
    return not any(segment in (".", "..") for segment in segments)
