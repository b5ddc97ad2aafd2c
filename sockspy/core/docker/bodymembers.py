"""Members added at the end of a JSON body object, the one way sockspy changes a body.

A body is never re-serialized: the new members go in just before the top-level object's
closing brace, and every byte the client sent stays where it was. Go's decoder reads
members in order, so a later member decides what it meets again: a struct field met
twice is decoded *into* the struct already filled (fields merge, the later winning), a
map merges key by key, and a slice or a string is replaced whole. So
``"HostConfig":{"VolumesFrom":[...]}`` at the end replaces one field of a create's
HostConfig and keeps the rest; ``"Labels":{...}`` adds labels to the client's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sockspy.core.docker.gojson import decode_pairs


def body_with_members(body: bytes, members: Iterable[tuple[str, Any]]) -> bytes:
    """`body` (one JSON object, nothing after it, else BodyDecodeError) with `members`
    appended, in order."""
    existing = decode_pairs(body)
    end = body.rstrip(b" \t\r\n")
    assert end.endswith(b"}")
    added = b",".join(compact_json(key) + b":" + compact_json(value) for key, value in members)
    if not added:
        return body
    return end[:-1] + (b"," if existing else b"") + added + b"}" + body[len(end) :]


def compact_json(value: Any) -> bytes:
    """JSON with no spaces and only ASCII (what sockspy writes into a request)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).encode("ascii")
