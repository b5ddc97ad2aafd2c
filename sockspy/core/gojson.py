"""Reading JSON request bodies the way Go's encoding/json reads them into dockerd's structs.

Go matches object keys to struct fields case-insensitively with Unicode simple folding,
and for duplicate keys the last one wins. Python's json module differs in both, so a
field is looked up here with Go's rules; anything Python cannot decode strictly (invalid
UTF-8, trailing bytes Go would ignore) raises, and the caller refuses the request.
"""

from __future__ import annotations

import json
from typing import Any

# The only non-ASCII characters whose simple case folding reaches an ASCII letter:
# U+212A KELVIN SIGN folds to "k", U+017F LATIN SMALL LETTER LONG S folds to "s".
_GO_FOLDS = str.maketrans({"\u212a": "k", "\u017f": "s"})

MISSING: Any = object()


class BodyDecodeError(ValueError):
    """A body that cannot be decoded exactly as Go would decode it."""


def go_fold(key: str) -> str:
    """A key folded so that Go's case-insensitive field match becomes equality."""
    return key.translate(_GO_FOLDS).lower()


def decode_pairs(body: bytes) -> list[tuple[str, Any]]:
    """The top-level members of a JSON object body, in order, duplicates kept."""
    try:
        value = json.loads(body.decode("utf-8"), object_pairs_hook=_Pairs)
    except Exception as exc:  # ValueError, RecursionError, UnicodeDecodeError...
        raise BodyDecodeError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(value, _Pairs):
        raise BodyDecodeError("request body is not a JSON object")
    return list(value)


def top_level_field(body: bytes, field: str) -> Any:
    """The value Go would store in struct field `field` (last matching key wins)."""
    wanted = go_fold(field)
    found = MISSING
    for key, value in decode_pairs(body):
        if go_fold(key) == wanted:
            found = value
    return found


class _Pairs(list[tuple[str, Any]]):
    """Keeps an object's members as an ordered list so duplicates survive decoding."""
