"""The audit log's hash chain and checkpoints: every way of tampering with a log is found
at the record where it shows."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sockspy.core.audit.chain import Chain, Position, fingerprint, position_after
from sockspy.core.audit.verify import Report, verify

SIGNER = Ed25519PrivateKey.generate()
TRUSTED = frozenset({fingerprint(SIGNER.public_key())})


def render(fields: Mapping[str, Any]) -> str:
    return json.dumps(dict(fields))


def sealed_log(
    records: int = 10, key: bytes | None = None, every: int = 4, host: str = "a"
) -> list[bytes]:
    """A log as the writer makes it: its log_file record, sealed records, a checkpoint
    every `every`, and the shutdown checkpoint at the end."""
    chain = Chain(render, key, SIGNER)
    lines = [chain.seal({"timestamp": "t0", "event": "log_file", "reason": "new"})]
    for n in range(1, records + 1):
        record = {"timestamp": f"t{n}", "event": "exchange", "request_no": n, "host": host}
        lines.append(chain.seal(record))
        if n % every == 0 or n == records:
            fields = chain.checkpoint(f"t{n}", "shutdown" if n == records else "periodic")
            assert fields is not None
            lines.append(chain.seal(fields))
    return [line.encode() for line in lines]


def check(lines: list[bytes], **options: Any) -> Report:
    return verify([("audit.jsonl", n, line) for n, line in enumerate(lines, 1)], **options)


def test_an_untouched_log_verifies_with_its_checkpoints() -> None:
    report = check(sealed_log(), trusted=TRUSTED)
    assert report.ok, report.problem
    assert (report.records, report.first_seq, report.last_seq) == (14, 1, 14)
    assert report.checkpoints == 3 and report.fingerprints == TRUSTED


def test_an_edited_record_is_found_at_the_record_after_it() -> None:
    lines = sealed_log()
    lines[4] = lines[4].replace(b'"request_no": 4', b'"request_no": 5')  # seq 5 is a checkpoint
    lines[1] = lines[1].replace(b'"exchange"', b'"exchanged"')
    report = check(lines)
    assert report.where is not None and report.where.line == 3
    assert "seq 3 does not link to the line before it: that line (seq 2) was changed" in str(
        report.problem
    )


def test_a_removed_record_is_a_gap_in_the_sequence() -> None:
    lines = sealed_log()
    del lines[2]
    report = check(lines)
    assert report.problem == "records removed: seq jumps from 2 to 4"
    assert report.where is not None and report.where.line == 3


def test_swapped_records_are_out_of_order() -> None:
    lines = sealed_log()
    lines[1], lines[2] = lines[2], lines[1]
    report = check(lines)
    assert report.problem == "records removed: seq jumps from 1 to 3"  # where it first shows
    lines = sealed_log()
    lines.insert(3, lines[1])  # a replayed record
    assert "out of order or repeated: seq 2 follows seq 3" in str(check(lines).problem)


def test_a_cut_at_the_end_is_found_by_the_missing_final_checkpoint() -> None:
    lines = sealed_log()[:-2]  # the last exchange and the final checkpoint are gone
    report = check(lines)
    assert "does not end with a shutdown checkpoint: records after seq 11" in str(report.problem)
    assert check(lines, open_end=True).ok  # a server that is still writing


def test_a_line_cut_mid_way_is_not_a_record() -> None:
    lines = sealed_log()
    lines[-1] = lines[-1][:40]
    assert "not a JSON record" in str(check(lines).problem)


def test_two_logs_spliced_together_break_at_the_join() -> None:
    first, second = sealed_log(6, host="a"), sealed_log(12, host="b")
    spliced = first[:4] + second[4:]  # seq continues, but the link is another log's
    report = check(spliced)
    assert report.where is not None and report.where.line == 5
    assert "two logs were joined here" in str(report.problem)


def test_a_recomputed_chain_is_caught_by_the_signature_or_the_key() -> None:
    # The attacker re-seals everything after an edit, with a key of their own.
    forged = Chain(render, None, Ed25519PrivateKey.generate())
    lines = [forged.seal({"event": "exchange", "request_no": n}).encode() for n in range(3)]
    fields = forged.checkpoint("t", "shutdown")
    assert fields is not None
    lines.append(forged.seal(fields).encode())
    assert check(lines).ok  # without a trusted key there is only self-consistency...
    report = check(lines, trusted=TRUSTED)  # ...with one, the forger is named
    assert "signed by a key that is not trusted" in str(report.problem)


def test_a_forged_signature_does_not_hold() -> None:
    lines = sealed_log()
    checkpoint = json.loads(lines[5])
    checkpoint["covers_link"] = "f" * 64
    lines[5] = json.dumps(checkpoint).encode()
    assert "checkpoint seq 6 does not cover the line before it" in str(check(lines).problem)


def test_a_keyed_chain_needs_its_key() -> None:
    lines = sealed_log(key=b"k" * 32)
    assert check(lines, key=b"k" * 32).ok
    report = check(lines)
    assert "checked without --audit-key" in str(report.problem)


def test_a_chain_goes_on_from_the_last_line_of_an_existing_log() -> None:
    old = sealed_log(3)
    start = position_after(old[-1])
    assert start == Position(5, start.link if start else "")  # log_file, 3 records, checkpoint
    chain = Chain(render, None, None, start or Position())
    more = [chain.seal({"event": "policy"}).encode()]
    assert check(old + more, open_end=True).ok
    assert position_after(b"not json") is None


@pytest.mark.parametrize("records", [1, 2, 5])
def test_a_log_without_a_signing_key_verifies_and_says_what_it_cannot_show(records: int) -> None:
    chain = Chain(render)
    lines = [chain.seal({"event": "exchange"}).encode() for _ in range(records)]
    report = check(lines)
    assert report.ok and report.checkpoints == 0
    assert any("cannot be detected" in note for note in report.notes)


# -- cuts at the edges: a complete log proves where it starts and where it ends ------------


def rotated_log(files: int, per_file: int = 3, kept: int | None = None) -> list[list[bytes]]:
    """The files of a log the writer rotated after every `per_file` records (oldest
    first), keeping `kept` rotated files; each starts with its log_file record, which
    names what its rotation deleted."""
    chain = Chain(render, None, SIGNER)
    made: list[list[bytes]] = []
    reason = "new"
    removed: tuple[int, int] | None = None
    for f in range(files):
        if f and kept is not None and len(made) > kept:  # this rotation deletes the oldest
            gone = made.pop(0)
            removed = (json.loads(gone[0])["seq"], json.loads(gone[-1])["seq"])
        opening: dict[str, Any] = {"timestamp": f"f{f}", "event": "log_file", "reason": reason}
        if removed is not None:
            opening["removed_first_seq"], opening["removed_last_seq"] = removed
        lines = [chain.seal(opening)]
        for n in range(per_file):
            lines.append(chain.seal({"timestamp": f"f{f}r{n}", "event": "exchange"}))
        fields = chain.checkpoint(f"f{f}", "shutdown" if f == files - 1 else "periodic")
        assert fields is not None
        lines.append(chain.seal(fields))
        made.append([line.encode() for line in lines])
        reason, removed = "rotation", None
    return made


def check_files(files: list[list[bytes]], **options: Any) -> Report:
    names = [f"audit.jsonl.{len(files) - 1 - i}" if i < len(files) - 1 else "audit.jsonl"
             for i in range(len(files))]  # fmt: skip
    return verify(
        [(name, n, line) for name, lines in zip(names, files, strict=True)
         for n, line in enumerate(lines, 1)],
        trusted=TRUSTED, **options,
    )  # fmt: skip


def test_a_rotated_log_verifies_and_names_what_its_rotations_deleted() -> None:
    whole = check_files(rotated_log(4))
    assert whole.ok and whole.first_seq == 1, whole.problem
    trimmed = check_files(rotated_log(6, kept=2))  # three files left of six
    assert trimmed.ok, trimmed.problem
    assert trimmed.first_seq == 16
    assert any("seq 11..15 deleted by a rotation" in note for note in trimmed.notes)


@pytest.mark.parametrize(
    ("cut", "problem"),
    [
        # Tail cuts: at a periodic checkpoint, at a file boundary, inside the last file.
        (lambda fs: [*fs[:-1], fs[-1][:-2]], "does not end with a shutdown checkpoint"),
        (lambda fs: [*fs[:-1], fs[-1][:1]], "does not end with a shutdown checkpoint"),
        (lambda fs: fs[:-1], "does not end with a shutdown checkpoint"),
        # Head cuts: lines off the oldest file, the oldest file, a later file's head.
        (lambda fs: [fs[0][2:], *fs[1:]], "starts at seq 3 with no log_file record"),
        (lambda fs: fs[1:], "records seq 1..5 are missing"),
        (lambda fs: fs[2:], "records seq 1..10 are missing"),
        (lambda fs: [fs[0], fs[1][1:], *fs[2:]], "records removed: seq jumps from 5 to 7"),
    ],
    ids=["periodic", "file-boundary", "newest-file", "head-lines", "oldest-file",
         "two-files", "later-head"],
)  # fmt: skip
def test_a_log_cut_at_either_end_fails_even_with_trusted_checkpoints(
    cut: Any, problem: str
) -> None:
    report = check_files(cut(rotated_log(4)))
    assert not report.ok and problem in str(report.problem), report.problem


def test_a_log_missing_files_its_rotations_kept_fails() -> None:
    files = rotated_log(6, kept=2)  # its first file starts at seq 16
    assert "records seq 16..20 are missing" in str(check_files(files[1:]).problem)
