"""Body framing: where bodies end, for every way a stream can be split into reads."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sockspy.core.wire.framing import (
    ChunkedReader,
    FramingError,
    LengthReader,
    UntilCloseReader,
)


def feed_in_pieces(reader: ChunkedReader | LengthReader, data: bytes, cuts: list[int]) -> int:
    """Feed `data` split at `cuts`; return where the body ended in `data`."""
    offsets = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for start, end in itertools.pairwise(offsets):
        piece = data[start:end]
        consumed = reader.feed(piece)
        if reader.done:
            return start + consumed
        assert consumed == len(piece)
    return len(data)


CHUNKED = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\n"


def test_chunked_body_ends_exactly_after_the_trailer_section() -> None:
    reader = ChunkedReader(collect=True)
    end = reader.feed(CHUNKED + b"GET /next")
    assert reader.done
    assert end == len(CHUNKED)
    assert reader.collected == b"hello, world"
    assert reader.size == 12


@given(st.lists(st.integers(min_value=0, max_value=200), max_size=12))
def test_chunked_body_end_does_not_depend_on_how_reads_split_it(cuts: list[int]) -> None:
    reader = ChunkedReader(collect=True)
    data = CHUNKED + b"NEXT"
    assert feed_in_pieces(reader, data, cuts) == len(CHUNKED)
    assert reader.collected == b"hello, world"


@given(st.lists(st.binary(min_size=1, max_size=300), max_size=8), st.lists(st.integers(0, 5000)))
def test_chunked_reader_finds_the_end_of_any_well_formed_body(
    chunks: list[bytes], cuts: list[int]
) -> None:
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    reader = ChunkedReader(collect=True)
    assert feed_in_pieces(reader, body + b"tail", cuts) == len(body)
    assert reader.collected == b"".join(chunks)


@pytest.mark.parametrize(
    "body",
    [
        b"5\nhello\r\n0\r\n\r\n",  # bare LF after the size
        b" 5\r\nhello\r\n0\r\n\r\n",  # whitespace before the size
        b"5 \r\nhello\r\n0\r\n\r\n",  # whitespace after the size
        b"-5\r\nhello\r\n0\r\n\r\n",
        b"0x5\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhelloXX0\r\n\r\n",  # data not followed by CRLF
        b"11111111111111111\r\n",  # more than 16 hex digits
        b"\r\n",  # empty size line
        b"0\r\nbad trailer line\r\n\r\n",
    ],
)
def test_chunked_reader_refuses_ambiguous_framing(body: bytes) -> None:
    with pytest.raises(FramingError):
        ChunkedReader().feed(body)


def test_length_reader_counts_without_collecting_by_default() -> None:
    reader = LengthReader(10)
    assert reader.feed(b"0123") == 4
    assert not reader.done
    assert reader.feed(b"456789NEXT") == 6
    assert reader.done and reader.size == 10


def test_until_close_body_ends_only_at_end_of_stream() -> None:
    reader = UntilCloseReader()
    assert reader.feed(b"abc") == 3
    assert not reader.done
    assert reader.end_of_stream() and reader.done
