"""Audit records as sockspy writes them, checked against their types (`RECORD_TYPES`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sockspy.core.records import RECORD_TYPES

# Added by the log writer to every record (seq and prev: the hash chain, JSON logs).
# escaped: the writer escaped client text no JSON can hold (`core.audit.renderable`).
WRITER_FIELDS = frozenset({"timestamp", "level", "seq", "prev", "escaped"})


def record_problems(record: Mapping[str, Any]) -> list[str]:
    """What is wrong with one written record: an unknown event, a missing or extra field."""
    event = record.get("event")
    kind = RECORD_TYPES.get(str(event))
    if kind is None:
        return [f"unknown event {event!r}"]
    keys = set(record) - WRITER_FIELDS
    allowed = kind.__required_keys__ | kind.__optional_keys__  # type: ignore[attr-defined]
    missing = kind.__required_keys__ - keys  # type: ignore[attr-defined]
    extra = keys - allowed
    return [f"{event}: missing {sorted(missing)}"] * bool(missing) + [
        f"{event}: undocumented {sorted(extra)}"
    ] * bool(extra)


def check_records(records: Iterable[Mapping[str, Any]]) -> None:
    problems = [p for record in records for p in record_problems(record)]
    assert not problems, problems
