"""The sealed audit log on disk: rotation keeps the chain across files, a restart goes on
from the last line, and `sockspy audit verify` finds a change in any of the files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sockspy.cli import main
from sockspy.core.audit.chain import Chain, Position, fingerprint
from sockspy.io.logfile import LogFile, chain_position
from sockspy.io.logsink import AuditLog, json_renderer

RENDER = json_renderer()
SIGNER = Ed25519PrivateKey.generate()


def write_log(path: Path, records: int, max_bytes: int | None = None, keep: int = 10) -> None:
    """One server run: `records` exchanges, a checkpoint every 50, one at shutdown."""
    start = chain_position(str(path), None) or Position()
    chain = Chain(lambda fields: str(RENDER(None, "", dict(fields))), None, SIGNER, start)
    sink = LogFile(str(path), max_bytes, keep=keep)
    log = AuditLog("json", sink, chain=chain, checkpoint_every=50)
    for n in range(records):
        log.emit({"event": "exchange", "request_no": n, "target": "/_ping" + "x" * 100})
    log.close()
    sink.close()


def verify(*files: Path, trust: bool = True) -> int:
    args = ["audit", "verify", *map(str, files)]
    if trust:
        args += ["--trust", fingerprint(SIGNER.public_key())]
    return main(args)


def test_rotated_files_and_a_restart_make_one_chain_that_verifies(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write_log(log, 300, max_bytes=20_000)
    write_log(log, 50, max_bytes=20_000)  # a restart appends and goes on
    files = sorted(tmp_path.glob("audit.jsonl*"))
    assert len(files) > 2
    assert verify(*files) == 0
    seqs = [json.loads(line)["seq"] for f in files for line in f.read_text().splitlines()]
    assert sorted(seqs) == list(range(1, len(seqs) + 1))  # no gap, no repeat, across files


def test_verify_fails_on_a_change_in_an_older_file_and_on_a_missing_file(
    tmp_path: Path, capsys: object
) -> None:
    log = tmp_path / "audit.jsonl"
    write_log(log, 300, max_bytes=20_000)
    files = sorted(tmp_path.glob("audit.jsonl*"))
    older = tmp_path / "audit.jsonl.2"
    lines = older.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace('"target":"/_ping', '"target":"/_pong')  # one letter
    text = "".join(lines)
    assert text != older.read_text()
    older.write_text(text)
    assert verify(*files) == 1
    older.unlink()
    remaining = [f for f in files if f != older]
    assert verify(*remaining) == 1  # the records of the missing file are a gap


def test_keygen_writes_a_key_serve_can_sign_with(tmp_path: Path, capsys: object) -> None:
    key = tmp_path / "signing.pem"
    assert main(["audit", "keygen", str(key)]) == 0
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert main(["audit", "keygen", str(key)]) == 2  # never overwritten


def test_report_learn_and_replay_refuse_a_file_that_holds_no_audit_records(
    tmp_path: Path, capsys: object
) -> None:
    """An empty report of the wrong file would read as "nothing happened": each command
    says the file is not an audit log and exits 2, and reads a real one as before."""
    not_a_log = tmp_path / "package.json"
    not_a_log.write_text('{"name": "app", "version": "1.0.0"}\n')
    empty = tmp_path / "empty.log"
    empty.write_text("")
    for path in (not_a_log, empty):
        for argv in (["audit", "report", str(path)], ["learn", str(path)]):
            assert main(argv) == 2, argv
    log = tmp_path / "audit.log"
    write_log(log, 3)
    assert main(["audit", "report", "--format", "json", str(log)]) == 0
    assert "no audit records" in capsys.readouterr().err  # type: ignore[attr-defined]


def test_rotation_deletes_only_what_the_log_then_names_and_verify_shows_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "audit.jsonl"
    write_log(log, 600, max_bytes=20_000, keep=2)  # more than three files' worth
    files = sorted(tmp_path.glob("audit.jsonl*"))
    assert len(files) == 3
    for file in files:  # each starts with its opening, and passes the size by a record
        first = json.loads(file.read_text().splitlines()[0])
        assert first["event"] == "log_file" and first["reason"] in ("new", "rotation")
        assert file.stat().st_size < 20_000 + 1000  # a record and a checkpoint
    capsys.readouterr()
    assert verify(*files) == 0
    out = capsys.readouterr().out
    assert "deleted by a rotation" in out and "OK:" in out
    oldest = max(files, key=lambda f: f.name)  # audit.jsonl.2: kept, and then taken away
    oldest.unlink()
    assert verify(*[f for f in files if f != oldest]) == 1
    assert "are missing" in capsys.readouterr().out
