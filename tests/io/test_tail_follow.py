"""`sockspy tail` follows the log across rotations: no record is skipped or shown twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sockspy.cli import tail
from sockspy.io.logfile import LogFile


def line(n: int) -> str:
    return json.dumps({"event": "exchange", "request_no": n}) + "\n"


# A skipped record would leave `next` polling for ever: fail fast instead.
pytestmark = pytest.mark.timeout(10)


@pytest.mark.parametrize("rotations", [1, 2, 3])
def test_records_written_across_several_rotations_within_one_poll_are_all_shown(
    tmp_path: Path, rotations: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tail, "POLL_SECONDS", 0.001)
    path = str(tmp_path / "audit.jsonl")
    log = LogFile(path, keep=5)
    log.write(line(1))
    follow = tail._records(path, backlog=10, follow=True)
    assert next(follow)["request_no"] == 1
    n = 1
    log.write(line(n := n + 1))  # written to the file being read, before it rotates
    for _ in range(rotations):  # the server rotates again and again between two polls
        log.rotate()
        log.write(line(n := n + 1))
    shown = [next(follow)["request_no"] for _ in range(n - 1)]
    assert shown == list(range(2, n + 1))
    log.write(line(n + 1))
    assert next(follow)["request_no"] == n + 1  # and it goes on with the newest file
    follow.close()
    log.close()


def test_a_file_rotated_out_of_the_kept_ones_is_followed_by_every_kept_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tail, "POLL_SECONDS", 0.001)
    path = str(tmp_path / "audit.jsonl")
    log = LogFile(path, keep=2)
    log.write(line(1))
    follow = tail._records(path, backlog=10, follow=True)
    assert next(follow)["request_no"] == 1
    for n in (2, 3, 4):  # three rotations with two kept: the file read so far is gone
        log.rotate()
        log.write(line(n))
    assert [next(follow)["request_no"] for _ in range(3)] == [2, 3, 4]
    follow.close()
    log.close()
