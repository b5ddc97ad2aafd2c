"""`sockspy audit verify FILE...`: does the audit log hold what sockspy wrote?
`sockspy audit keygen FILE`: an Ed25519 key to sign its checkpoints with.
`sockspy audit report FILE...`: who did what, as JSON, Markdown or one HTML page."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from sockspy.core.audit.chain import fingerprint
from sockspy.core.audit.report import build
from sockspy.core.audit.report_render import to_html, to_json, to_markdown
from sockspy.core.audit.verify import Line, verify


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = commands.add_parser("audit", help="check the audit log's hash chain and signatures")
    actions = audit.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "verify",
        help="report the first removed, changed, reordered or cut record",
        description="Walk the hash chain of an audit log (its rotated files in any order: "
        "they are put in sequence order) and check every signed checkpoint. Exit 0 if the "
        "chain holds, 1 at the first break (printed with its FILE:LINE), 2 on bad usage.",
    )
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--audit-key", metavar="FILE", help="the HMAC key the log was sealed with")
    check.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="FINGERPRINT",
        help="accept checkpoints only from this key (SHA256:...; repeatable; "
        "`sockspy audit keygen` prints it)",
    )
    check.add_argument(
        "--open-end",
        action="store_true",
        help="accept a log that does not end with a checkpoint (a server still running)",
    )
    check.set_defaults(run=run_verify)
    report = actions.add_parser(
        "report",
        help="who did what: per client, endpoints, denials, sessions, objects created",
        description="Read audit logs (rotated files in any order) and print, per client "
        "identity (person, process, container, certificate), the endpoints it used, its "
        "denials with their rules, its sessions with commands and exit codes, and the "
        "objects it created; with a timeline of exchanges per minute.",
    )
    report.add_argument("files", nargs="+", metavar="FILE")
    report.add_argument("--format", choices=("markdown", "json", "html"), default="markdown")
    report.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    report.set_defaults(run=run_report)
    keygen = actions.add_parser(
        "keygen",
        help="make an Ed25519 key for serve --audit-signing-key",
        description="Write a new Ed25519 private key (PEM, mode 0600) and print its "
        "public fingerprint, for `audit verify --trust`.",
    )
    keygen.add_argument("file", metavar="FILE")
    keygen.set_defaults(run=run_keygen)


def read_key(path: str | None) -> bytes | None:
    if path is None:
        return None
    key = Path(path).read_bytes().strip()
    if len(key) < 16:
        raise ValueError(f"{path}: an audit key needs at least 16 bytes")
    return key


def load_signing_key(path: str) -> Ed25519PrivateKey:
    key = load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return key


def run_verify(args: argparse.Namespace) -> int:
    try:
        key = read_key(args.audit_key)
        ordered = in_sequence_order(args.files)
    except (OSError, ValueError) as exc:
        print(f"sockspy audit verify: {exc}", file=sys.stderr)
        return 2
    report = verify(log_lines(ordered), key, frozenset(args.trust), args.open_end)
    for note in report.notes:
        print(f"note: {note}")
    for print_ in sorted(report.fingerprints):
        print(f"checkpoints signed by {print_}")
    if not report.ok:
        where = f"{report.where}: " if report.where else ""
        print(f"FAILED: {where}{report.problem}")
        print(f"(checked {report.records} records before it)")
        return 1
    print(
        f"OK: {report.records} records, seq {report.first_seq}..{report.last_seq} "
        f"(the last at {report.last_time}), {report.checkpoints} signed checkpoints, in "
        f"{len(ordered)} file(s)"
    )
    return 0


def run_keygen(args: argparse.Namespace) -> int:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    try:
        fd = os.open(args.file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        print(f"sockspy audit keygen: {exc}", file=sys.stderr)
        return 2
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    print(fingerprint(key.public_key()))
    return 0


def _first_seq(path: str) -> int:
    with open(path, "rb") as log:
        for line in log:
            if line.strip():
                try:
                    seq = json.loads(line).get("seq")
                except (ValueError, AttributeError):
                    return 0
                return seq if isinstance(seq, int) else 0
    return 0


def in_sequence_order(files: list[str]) -> list[str]:
    """Rotated files (audit.jsonl.2, .1, audit.jsonl) in the order their records were
    written, whatever order the shell listed them in."""
    return sorted(files, key=_first_seq)


def log_lines(files: list[str]) -> Iterator[Line]:
    for name in files:
        with open(name, "rb") as log:
            for number, line in enumerate(log, 1):
                if line.endswith(b"\n"):
                    line = line[:-1]
                elif not line:
                    continue
                yield name, number, line


def run_report(args: argparse.Namespace) -> int:
    try:
        records = read_records(args.files)
    except (OSError, ValueError) as exc:
        print(f"sockspy audit report: {exc}", file=sys.stderr)
        return 2
    data = build(records).as_dict()
    render = {"json": to_json, "markdown": to_markdown, "html": to_html}[args.format]
    text = render(data)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def read_records(files: list[str]) -> list[dict[str, object]]:
    """The JSON records of audit logs, their rotated files put in order. Raises ValueError
    for a line that is not JSON (`audit verify` says where), and when no line is an audit
    record at all: an empty report of the wrong file must not pass for "nothing happened"."""
    records = []
    for _, _, line in log_lines(in_sequence_order(files)):
        if line.strip().startswith(b"{"):
            record = json.loads(line)
            if isinstance(record, dict):
                records.append(record)
    if not any(isinstance(record.get("event"), str) for record in records):
        named = ", ".join(files)
        raise ValueError(f"{named}: no audit records in it (is it sockspy's audit log?)")
    return records
