"""Session transcripts in asciicast v2: the lines sockspy writes for a session's bytes."""

from __future__ import annotations

import json
import struct

from sockspy.core.proxy.transcript import Transcript


def events(lines: bytes) -> list[list[object]]:
    return [json.loads(line) for line in lines.splitlines()]


def frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(payload)) + payload


def test_the_header_is_asciicast_v2() -> None:
    header = json.loads(Transcript(tty=True, started=0.0).header(1700000000.5, "exec db"))
    assert header == {
        "version": 2, "width": 80, "height": 24, "timestamp": 1700000000, "title": "exec db",
    }  # fmt: skip


def test_a_tty_stream_is_recorded_as_it_is_with_times_from_the_start() -> None:
    transcript = Transcript(tty=True, started=10.0)
    assert events(transcript.output(b"$ ls\r\n", 10.25)) == [[0.25, "o", "$ ls\r\n"]]


def test_frames_without_a_tty_are_demuxed_even_when_split_across_reads() -> None:
    transcript = Transcript(tty=False, started=0.0)
    stream = frame(1, b"out\n") + frame(2, b"err\n") + frame(1, b"more")
    lines = b"".join(transcript.output(stream[i : i + 5], 1.0) for i in range(0, len(stream), 5))
    assert events(lines) == [[1.0, "o", "out\n"], [1.0, "e", "err\n"], [1.0, "o", "more"]]


def test_a_character_split_between_reads_is_not_mangled() -> None:
    transcript = Transcript(tty=True, started=0.0)
    data = "héllo".encode()
    lines = transcript.output(data[:2], 0.0) + transcript.output(data[2:], 0.0)
    assert "".join(str(e[2]) for e in events(lines)) == "héllo"


def test_input_is_recorded_only_when_asked_for() -> None:
    assert Transcript(tty=True, started=0.0).input(b"ls\r", 1.0) == b""
    typed = Transcript(tty=True, started=0.0, with_input=True).input(b"ls\r", 1.0)
    assert events(typed) == [[1.0, "i", "ls\r"]]


def test_past_its_limit_the_transcript_says_it_was_cut_and_writes_nothing_more() -> None:
    transcript = Transcript(tty=True, started=0.0, limit=10)
    assert events(transcript.output(b"12345678", 0.0)) == [[0.0, "o", "12345678"]]
    assert events(transcript.output(b"abc", 1.0)) == [
        [1.0, "m", "sockspy: transcript truncated at 8 bytes"]
    ]
    assert transcript.output(b"x", 2.0) == b""
    assert transcript.truncated and transcript.recorded == 8
