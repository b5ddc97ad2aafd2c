"""A record that any JSON writer can write, for the one that could not be written.

What a client controls reaches records as text and numbers: a program name with a byte
that is not UTF-8 (read from /proc as a lone surrogate), a number past 64 bits, a
structure nested past the encoder's limit. The writer renders a record as it is; if
that fails, it renders `renderable(record)` instead, marked ``"escaped": true``, so the
exchange keeps its record (an `internal_error` in its place would lose it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_DEPTH = 32
_INT64 = (-(2**63), 2**64 - 1)  # what orjson writes as a number


def renderable(record: Mapping[str, Any]) -> dict[str, Any]:
    """`record` with every string valid UTF-8 (a surrogate as its escape, ``\\udcff``),
    every key a string, numbers past 64 bits as text, nesting cut at `MAX_DEPTH`, and any
    other value as its repr; plus ``"escaped": true``."""
    out = {_text(key): _value(value, 1) for key, value in record.items()}
    out["escaped"] = True
    return out


def _value(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else str(value)
    if isinstance(value, str):
        return _text(value)
    if depth >= MAX_DEPTH and isinstance(value, Mapping | list | tuple):
        return f"<nested deeper than {MAX_DEPTH}>"
    if isinstance(value, Mapping):
        return {_text(key): _value(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_value(item, depth + 1) for item in value]
    return _text(repr(value))


def _text(value: object) -> str:
    text = value if isinstance(value, str) else str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
