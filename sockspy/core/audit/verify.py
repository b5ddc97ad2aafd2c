"""Walk an audit log's chain and say where it was changed (`sockspy audit verify`).

Each line is checked against the one before it (`sockspy.core.audit.chain`): its ``seq``
must follow, its ``prev`` must be that line's link, and a checkpoint's signature must
hold for the line it covers. The first break is reported with the file and line where it
shows, and what it means: a line changed (or its successor's link), lines removed,
lines reordered or repeated, a line that is not a record at all (edited or torn), two
logs spliced together, a file or a log cut at its start. A log that has checkpoints must
end with the shutdown checkpoint: after any other, lines may have been cut off unseen.

Sans-IO: it takes (file, line number, bytes) and returns a `Report`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sockspy.core.audit.chain import GENESIS, checkpoint_message, fingerprint, link_of


@dataclass(frozen=True, slots=True)
class Place:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(slots=True)
class Report:
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    checkpoints: int = 0
    last_checkpoint_seq: int | None = None
    last_time: str | None = None  # the last record's timestamp
    fingerprints: set[str] = field(default_factory=set)
    problem: str | None = None  # the first break, or None if the chain holds
    where: Place | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None


Line = tuple[str, int, bytes]  # file, line number (1-based), the line without its newline


def verify(
    lines: Iterable[Line],
    key: bytes | None = None,
    trusted: frozenset[str] = frozenset(),
    open_end: bool = False,
) -> Report:
    """The report on one log (its files in order). `trusted`: key fingerprints whose
    checkpoints count (empty: any key, whose fingerprint the report lists).

    A complete log (README, threat model) starts at its genesis (seq 1, linked to zeros)
    or right after the records its own rotations deleted (`log_file` records say which);
    every file starts with a `log_file` record; every line links to the one before; and,
    with checkpoints, it ends with the shutdown checkpoint (`open_end`: a server still
    running, or stopped uncleanly, may end anywhere).
    """
    report = Report()
    link: str | None = None  # the link of the last good line
    seq: int | None = None
    last: dict[str, object] = {}
    removed_until = 0  # the last seq a rotation deleted, as the log says
    for name, number, raw in lines:
        here = Place(name, number)
        problem = _check_line(raw, link, seq, key, trusted, report)
        record = json.loads(raw) if problem is None else {}
        if problem is None and number == 1:
            problem = _file_start(record, name)
        if problem is not None:
            report.problem, report.where = problem, here
            return report
        if seq is None:
            report.first_seq = record["seq"]
        if record.get("event") == "log_file" and isinstance(record.get("removed_last_seq"), int):
            removed_until = max(removed_until, record["removed_last_seq"])
            report.notes.append(
                f"seq {record.get('removed_first_seq')}..{record['removed_last_seq']} "
                f"deleted by a rotation at {record.get('timestamp')} (--log-keep)"
            )
        seq, link = record["seq"], link_of(raw, key)
        report.records += 1
        report.last_seq = seq
        report.last_time = str(record.get("timestamp") or "") or None
        last = record
    if report.records == 0:
        report.problem = "no records"
        return report
    assert report.first_seq is not None
    if report.first_seq > max(1, removed_until + 1):
        report.problem = (
            f"records seq {removed_until + 1}..{report.first_seq - 1} are missing: the log "
            f"starts at seq {report.first_seq}, and its rotations deleted "
            + (f"only up to seq {removed_until}" if removed_until else "nothing")
            + " (give every file of the log: PATH*)"
        )
        return report
    if report.checkpoints == 0:
        report.notes.append(
            "no signed checkpoints (serve --audit-signing-key): lines cut off at the end, or "
            "a chain recomputed by someone who can write the file, cannot be detected"
        )
    elif not open_end and (last.get("event"), last.get("reason")) != ("checkpoint", "shutdown"):
        after = report.last_checkpoint_seq
        report.problem = (
            f"the log does not end with a shutdown checkpoint: records after seq {after} "
            "may have been cut off (a log cut at a periodic checkpoint ends so too), or the "
            "server is still running or stopped uncleanly: --open-end accepts that"
        )
    return report


def _file_start(record: dict[str, object], name: str) -> str | None:
    """Why the first line of a file is not where a file of the log starts, or None."""
    if record.get("event") == "log_file":
        return None
    if record.get("seq") == 1 and record.get("prev") == GENESIS:
        return None  # a log written to a stream (stdout): its genesis, no file record
    return (
        f"{name} starts at seq {record.get('seq')} with no log_file record: lines were cut "
        "from its start (every file sockspy writes starts with one)"
    )


def _check_line(
    raw: bytes,
    link: str | None,
    seq: int | None,
    key: bytes | None,
    trusted: frozenset[str],
    report: Report,
) -> str | None:
    try:
        record = json.loads(raw)
    except ValueError:
        return "not a JSON record: a line was edited or torn (cut mid-line)"
    if not isinstance(record, dict) or not isinstance(record.get("seq"), int):
        return "a line without a sequence number: not written by a sealing sockspy"
    this = record["seq"]
    if seq is not None:
        if this > seq + 1:
            return f"records removed: seq jumps from {seq} to {this}"
        if this <= seq:
            return f"records out of order or repeated: seq {this} follows seq {seq}"
        if record.get("prev") != link:
            hint = "" if key is not None else " (or a keyed log checked without --audit-key)"
            return (
                f"seq {this} does not link to the line before it: that line (seq {seq}) was "
                f"changed, or this one's link was, or two logs were joined here{hint}"
            )
    if record.get("event") == "checkpoint":
        return _check_checkpoint(record, link, trusted, report)
    return None


def _check_checkpoint(
    record: dict[str, object], link: str | None, trusted: frozenset[str], report: Report
) -> str | None:
    seq = record["seq"]
    assert isinstance(seq, int)
    if record.get("covers_seq") != seq - 1 or (
        link is not None and record.get("covers_link") != link
    ):
        return f"checkpoint seq {seq} does not cover the line before it"
    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(str(record["public_key"])))
        signature = base64.b64decode(str(record["signature"]))
        message = checkpoint_message(seq - 1, str(record["covers_link"]), str(record["timestamp"]))
        public.verify(signature, message)
    except (KeyError, ValueError, InvalidSignature):
        return f"checkpoint seq {seq}: the signature does not hold (changed or forged)"
    print_ = fingerprint(public)
    if print_ != record.get("key_fingerprint"):
        return f"checkpoint seq {seq}: its key fingerprint is not its key's"
    if trusted and print_ not in trusted:
        return f"checkpoint seq {seq} is signed by a key that is not trusted ({print_})"
    report.checkpoints += 1
    report.last_checkpoint_seq = seq
    report.fingerprints.add(print_)
    return None
