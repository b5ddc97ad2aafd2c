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
    """A log as the writer makes it: sealed records, a checkpoint every `every`, and one
    at the end."""
    chain = Chain(render, key, SIGNER)
    lines = []
    for n in range(1, records + 1):
        record = {"timestamp": f"t{n}", "event": "exchange", "request_no": n, "host": host}
        lines.append(chain.seal(record))
        if n % every == 0 or n == records:
            fields = chain.checkpoint(f"t{n}", "periodic")
            assert fields is not None
            lines.append(chain.seal(fields))
    return [line.encode() for line in lines]


def check(lines: list[bytes], **options: Any) -> Report:
    return verify([("audit.jsonl", n, line) for n, line in enumerate(lines, 1)], **options)


def test_an_untouched_log_verifies_with_its_checkpoints() -> None:
    report = check(sealed_log(), trusted=TRUSTED)
    assert report.ok, report.problem
    assert (report.records, report.first_seq, report.last_seq) == (13, 1, 13)
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
    assert "does not end with a checkpoint: records after seq 10 are not covered" in str(
        report.problem
    )
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
    fields = forged.checkpoint("t", "periodic")
    assert fields is not None
    lines.append(forged.seal(fields).encode())
    assert check(lines).ok  # without a trusted key there is only self-consistency...
    report = check(lines, trusted=TRUSTED)  # ...with one, the forger is named
    assert "signed by a key that is not trusted" in str(report.problem)


def test_a_forged_signature_does_not_hold() -> None:
    lines = sealed_log()
    checkpoint = json.loads(lines[4])
    checkpoint["covers_link"] = "f" * 64
    lines[4] = json.dumps(checkpoint).encode()
    assert "checkpoint seq 5 does not cover the line before it" in str(check(lines).problem)


def test_a_keyed_chain_needs_its_key() -> None:
    lines = sealed_log(key=b"k" * 32)
    assert check(lines, key=b"k" * 32).ok
    report = check(lines)
    assert "checked without --audit-key" in str(report.problem)


def test_a_chain_goes_on_from_the_last_line_of_an_existing_log() -> None:
    old = sealed_log(3)
    start = position_after(old[-1])
    assert start == Position(4, start.link if start else "")  # 3 records and a checkpoint
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
