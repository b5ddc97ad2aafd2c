"""The bench load generator counts responses by their framing; these pin that counting."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# bench/ is scripts, not a package: its modules import each other by plain name.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from loadgen import LoadError, ResponseFramer

PING = (
    b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nOK"
)
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\n[{}]\n\r\n3;ext=1\r\nabc\r\n0\r\n\r\n"
)


def test_counts_content_length_responses_back_to_back() -> None:
    framer = ResponseFramer()
    assert framer.feed(PING * 3) == 3
    assert framer.idle


@pytest.mark.parametrize("response", [PING, CHUNKED])
def test_a_response_split_at_every_byte_completes_once(response: bytes) -> None:
    framer = ResponseFramer()
    counts = [framer.feed(response[i : i + 1]) for i in range(len(response))]
    assert counts[-1] == 1
    assert sum(counts) == 1
    assert framer.idle


def test_chunked_then_content_length_in_one_read() -> None:
    framer = ResponseFramer()
    assert framer.feed(CHUNKED + PING + PING[:10]) == 2
    assert framer.feed(PING[10:]) == 1


def test_non_200_answers_are_counted_as_unexpected() -> None:
    framer = ResponseFramer()
    denied = b'HTTP/1.1 403 Forbidden\r\nContent-Length: 13\r\n\r\n{"message":1}'
    no_content = b"HTTP/1.1 204 No Content\r\n\r\n"
    assert framer.feed(denied + no_content + PING) == 3
    assert framer.unexpected_status == 2


def test_a_response_without_framing_is_an_error() -> None:
    with pytest.raises(LoadError):
        ResponseFramer().feed(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody")
