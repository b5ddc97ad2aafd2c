"""The README's table of audit records is what sockspy writes: every event, every field.

The types in `sockspy.core.records` are the contract; this test holds the README's
table to them, and `support.records.check_records` (run on the records of the io and
end-to-end tests) holds what is written to them.
"""

from __future__ import annotations

import re
from pathlib import Path

from support.records import record_problems

from sockspy.core.deciding.client import ClientFields
from sockspy.core.records import RECORD_TYPES

README = Path(__file__).parents[2] / "README.md"
CLIENT_IDENTITY = "client identity"


def table() -> dict[str, set[str]]:
    """event -> the fields its README row names (backticked; "client identity" expands)."""
    text = README.read_text()
    section = text.split("## Audit records", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        fields = set(re.findall(r"`([a-z_]+)`", cells[2]))
        if CLIENT_IDENTITY in cells[2]:
            fields |= set(ClientFields.__required_keys__ | ClientFields.__optional_keys__)
        for event in re.findall(r"`([a-z_]+)`", cells[0]):
            rows[event] = fields
    return rows


def test_the_readme_lists_every_event_and_no_other() -> None:
    assert set(table()) == set(RECORD_TYPES)


def test_each_event_row_names_exactly_the_fields_of_its_type() -> None:
    for event, fields in table().items():
        kind = RECORD_TYPES[event]
        typed = (kind.__required_keys__ | kind.__optional_keys__) - {"event"}  # type: ignore[attr-defined]
        assert fields == typed, (event, sorted(fields ^ typed))


def test_the_readme_says_what_client_identity_is() -> None:
    section = README.read_text().split("## Audit records", 1)[1].split("\n## ", 1)[0]
    line = next(line for line in section.splitlines() if line.startswith("Client identity"))
    named = set(re.findall(r"`([a-z_]+)`", line))
    assert named == set(ClientFields.__required_keys__ | ClientFields.__optional_keys__)


def test_a_written_record_with_an_undocumented_field_is_caught() -> None:
    written = {"timestamp": "t", "level": "info", "event": "stopped"}
    assert record_problems(written) == []
    assert record_problems({**written, "surprise": 1}) == ["stopped: undocumented ['surprise']"]
    assert record_problems({"event": "listening"}) == ["listening: missing ['address']"]
    assert record_problems({"event": "nope"}) == ["unknown event 'nope'"]
