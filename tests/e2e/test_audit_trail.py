"""The audit log of a real run is evidence: sealed, signed, and `sockspy audit verify`
finds the record where someone changed it, through the real CLI and daemon."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from support.cli import docker
from support.proxy import ProxyProcess

pytestmark = pytest.mark.e2e

StartProxy = Callable[..., ProxyProcess]


def sockspy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sockspy", *args], capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def test_a_real_runs_log_verifies_and_each_tampering_is_found_where_it_is(
    start_sockspy: StartProxy, test_image: str, tmp_path: Path
) -> None:
    key = tmp_path / "signing.pem"
    made = sockspy("audit", "keygen", str(key))
    assert made.returncode == 0, made.stderr
    fingerprint = made.stdout.strip()
    proxy = start_sockspy(
        "--audit-signing-key", str(key), "--checkpoint-every", "5",
        "--log-max-bytes", "6000", "--log-keep", "20",
    )  # fmt: skip
    for _ in range(4):
        docker(proxy.unix_host, "ps", "-a")
    docker(proxy.tcp_host, "images")
    proxy.stop()
    files = sorted(proxy.logdir.glob("audit.jsonl*"))
    assert len(files) > 1  # rotated, with the chain going on

    ok = sockspy("audit", "verify", *map(str, files), "--trust", fingerprint)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith(f"checkpoints signed by {fingerprint}")

    # An exchange record with a record after it in the same file, in the newest such file.
    for current in reversed(files):
        original = current.read_text()
        lines = original.splitlines(keepends=True)
        found = [
            i for i, line in enumerate(lines[:-1]) if json.loads(line).get("event") == "exchange"
        ]
        if found:
            exchange = found[0]
            break
    seq = json.loads(lines[exchange])["seq"]

    def broken(text: str) -> str:
        current.write_text(text)
        result = sockspy("audit", "verify", *map(str, files), "--trust", fingerprint)
        current.write_text(original)
        assert result.returncode == 1, result.stdout
        return result.stdout

    edited = lines.copy()
    edited[exchange] = edited[exchange].replace('"status":200', '"status":403')
    assert f"seq {seq + 1} does not link" in broken("".join(edited))
    assert f"{current}:{exchange + 2}:" in broken("".join(edited))
    removed = lines[:exchange] + lines[exchange + 1 :]
    assert f"records removed: seq jumps from {seq - 1} to {seq + 1}" in broken("".join(removed))
    swapped = lines.copy()
    swapped[exchange], swapped[exchange + 1] = swapped[exchange + 1], swapped[exchange]
    assert "seq jumps" in broken("".join(swapped))
    # The file that holds the last record: the current one, or the one before it when
    # rotation happened at the very end and left the current one empty.
    by_age = sorted(files, key=lambda f: int(f.suffix[1:]) if f.suffix[1:].isdigit() else 0)
    newest = next(f for f in by_age if f.stat().st_size)
    whole = newest.read_text()
    newest.write_text("".join(whole.splitlines(keepends=True)[:-1]))  # the last line cut off
    cut = sockspy("audit", "verify", *map(str, files), "--trust", fingerprint)
    newest.write_text(whole)
    assert cut.returncode == 1 and "does not end with a shutdown checkpoint" in cut.stdout
    # Cut at a periodic checkpoint: every line after it, the shutdown checkpoint too.
    sealed = [(f, n, json.loads(line)) for f in by_age[::-1] for n, line in
              enumerate(f.read_text().splitlines())]  # fmt: skip
    periodic = [(f, n) for f, n, r in sealed if r.get("reason") == "periodic"]
    at, line_no = periodic[-1]
    texts = {f: f.read_text() for f in files}
    at.write_text("".join(texts[at].splitlines(keepends=True)[: line_no + 1]))
    later = [f for f in by_age if by_age.index(f) < by_age.index(at)]  # newer files
    for f in later:
        f.unlink()
    kept = [f for f in files if f.exists()]
    cut = sockspy("audit", "verify", *map(str, kept), "--trust", fingerprint)
    for f, text in texts.items():
        f.write_text(text)
    assert cut.returncode == 1 and "does not end with a shutdown checkpoint" in cut.stdout
    # Cut at the start: the oldest file's first lines, or the whole oldest file.
    oldest = by_age[-1]
    oldest.write_text("".join(texts[oldest].splitlines(keepends=True)[3:]))
    head = sockspy("audit", "verify", *map(str, files), "--trust", fingerprint)
    oldest.write_text(texts[oldest])
    assert head.returncode == 1 and "with no log_file record" in head.stdout
    rest = [f for f in files if f != oldest]
    gone = sockspy("audit", "verify", *map(str, rest), "--trust", fingerprint)
    assert gone.returncode == 1 and "records seq 1.." in gone.stdout and "missing" in gone.stdout
    stranger = sockspy("audit", "verify", *map(str, files), "--trust", "SHA256:" + "0" * 64)
    assert stranger.returncode == 1 and "not trusted" in stranger.stdout


def test_a_keyed_chain_verifies_only_with_its_key(
    start_sockspy: StartProxy, tmp_path: Path
) -> None:
    key = tmp_path / "audit.key"
    key.write_bytes(b"k" * 32)
    proxy = start_sockspy("--audit-key", str(key))
    docker(proxy.unix_host, "ps")
    proxy.stop()
    log = str(proxy.audit_path)
    keyed = sockspy("audit", "verify", log, "--audit-key", str(key), "--open-end")
    assert keyed.returncode == 0, keyed.stdout
    unkeyed = sockspy("audit", "verify", log, "--open-end")
    assert unkeyed.returncode == 1 and "checked without --audit-key" in unkeyed.stdout
    short = tmp_path / "short.key"
    short.write_bytes(b"k")
    assert sockspy("audit", "verify", log, "--audit-key", str(short)).returncode == 2


def test_a_client_whose_program_name_is_not_utf8_keeps_every_record(
    start_sockspy: StartProxy, tmp_path: Path
) -> None:
    # A program name with a byte that is not UTF-8 reaches records from /proc (peer_exe,
    # peer_cmdline): it once cost each exchange and the connection their records.
    docker_cli = shutil.which("docker")
    assert docker_cli is not None
    odd = tmp_path / os.fsdecode(b"dock\xffer")
    shutil.copy(docker_cli, odd)
    proxy = start_sockspy("--audit-key", str(_key(tmp_path)))
    done = subprocess.run(
        [os.fsencode(odd), b"ps"], env={**os.environ, "DOCKER_HOST": proxy.unix_host},
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    proxy.stop()
    records = proxy.audit_records()
    mine = [r for r in records if "dock\\xffer" in str(r.get("peer_exe", "")) or
            "\\udcff" in str(r.get("peer_exe", ""))]  # fmt: skip
    assert {r["event"] for r in mine} >= {"exchange", "connection"}
    assert all(r.get("escaped") is True for r in mine)
    assert not [r for r in records if r["event"] == "internal_error"]
    checked = sockspy("audit", "verify", str(proxy.audit_path), "--audit-key", str(_key(tmp_path)))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _key(folder: Path) -> Path:
    key = folder / "audit.key"
    if not key.exists():
        key.write_bytes(os.urandom(32))
    return key
