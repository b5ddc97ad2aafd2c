"""Session transcripts on disk: one asciicast file per recorded session, written by a
thread of its own so that a slow disk never stalls the bytes.

`open` creates the file (mode 0600, in `directory`, named by the session's record id)
before the session starts, so a rule with ``record_required = true`` can refuse the
session with a clear 403 when it cannot be written. Then `Recorder.output` and
`Recorder.input` format events in the event loop (`sockspy.core.proxy.transcript`: a few
microseconds) and queue them; the writer thread appends and closes. A queue that is full
drops the event and the transcript says it is incomplete (`dropped` in `session_end`).
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import BinaryIO

import trio

from sockspy.core.proxy.transcript import DEFAULT_LIMIT, Transcript

QUEUE_ITEMS = 4096


@dataclass(slots=True)
class Recorder:
    """One session's transcript: where it goes and what it has written."""

    path: str
    transcript: Transcript
    sink: TranscriptSink
    file: BinaryIO
    dropped: int = 0
    closed: bool = field(default=False)

    def output(self, data: bytes) -> None:
        self._put(self.transcript.output(data, time.monotonic()))

    def input(self, data: bytes) -> None:
        self._put(self.transcript.input(data, time.monotonic()))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sink.put(self.file, None)

    def fields(self) -> dict[str, object]:
        """What `session_end` says of the transcript."""
        out: dict[str, object] = {
            "transcript": self.path,
            "transcript_bytes": self.transcript.recorded,
        }
        if self.transcript.truncated:
            out["transcript_truncated"] = True
        if self.dropped:
            out["transcript_dropped"] = self.dropped
        return out

    def _put(self, lines: bytes) -> None:
        if lines and not self.closed and not self.sink.put(self.file, lines):
            self.dropped += 1


class TranscriptSink:
    def __init__(self, directory: str, limit: int = DEFAULT_LIMIT) -> None:
        self.directory = directory
        self.limit = limit
        # (file, lines to append, or None: close it); None alone stops the writer.
        self._queue: queue.Queue[tuple[BinaryIO, bytes | None] | None] = queue.Queue(QUEUE_ITEMS)
        self._thread: threading.Thread | None = None

    async def open(self, record_id: str, tty: bool, with_input: bool, title: str) -> Recorder:
        """A new transcript file for the session `record_id`. Raises OSError."""
        path = os.path.join(self.directory, f"{record_id}.cast")
        transcript = Transcript(
            tty=tty, started=time.monotonic(), with_input=with_input, limit=self.limit
        )
        header = transcript.header(time.time(), title)
        file = await trio.to_thread.run_sync(_create, self.directory, path, header)
        self._start()
        return Recorder(path, transcript, self, file)

    def put(self, file: BinaryIO, lines: bytes | None) -> bool:
        try:
            self._queue.put_nowait((file, lines))
        except queue.Full:
            if lines is None:  # a close is never dropped: wait for room
                self._queue.put((file, None))
                return True
            return False
        return True

    def close(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="transcripts", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            file, lines = item
            try:
                if lines is None:
                    file.close()
                else:
                    file.write(lines)
            except (OSError, ValueError):
                pass  # a full disk: the file ends where it could; the session goes on


def _create(directory: str, path: str, header: bytes) -> BinaryIO:
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    file = os.fdopen(fd, "wb", buffering=0)
    try:
        file.write(header)
    except OSError:
        file.close()
        raise
    return file
