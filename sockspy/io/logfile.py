"""The audit log file: appended to, rotated by size, and read back where a chain continues.

Rotation renames ``audit.jsonl`` to ``audit.jsonl.1`` (and ``.1`` to ``.2``...), keeping
`keep` old files, and starts a new file. It runs on the log writer thread after a batch,
so no line is split across files and a file passes `max_bytes` by a record and a
checkpoint at most (the writer ends a batch where the file is full); the hash
chain goes on across them (the first line of the new file links to the last line of the
old one).

A file this class starts (a new log, or a rotation) is announced by `take_opening`: the
writer seals a ``log_file`` record as its first line, with the sequence numbers of the
file the rotation deleted, so that `verify` can tell a log cut at its start from one
whose oldest records were rotated away, and says which.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass

from sockspy.core.audit.chain import Position, position_after

TAIL_BYTES = 1024 * 1024  # enough for the last line of any log


@dataclass(frozen=True, slots=True)
class Opening:
    """A file the writer starts: why, and the seq range a rotation deleted (if any)."""

    reason: str  # "new" (an empty log) or "rotation"
    removed: tuple[int, int] | None = None  # first and last seq of the deleted file


class LogFile:
    """A text sink for `AuditLog`, by path, that rotates when it passes `max_bytes`.

    Each write is whole lines with `os.write` on an O_APPEND descriptor; a write that
    fails part way (a full disk) is cut back to where it began, so a failed batch leaves
    no torn line and can be written again whole (`AuditLog` retries it).
    """

    def __init__(self, path: str, max_bytes: int | None = None, keep: int = 5) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keep = keep
        self._fd = self._open()
        self._opening: Opening | None = None
        if os.fstat(self._fd).st_size == 0:  # a first run, or a rotation just before a stop
            rotated = os.path.exists(f"{path}.1")
            self._opening = Opening("rotation" if rotated else "new")

    def take_opening(self) -> Opening | None:
        """The opening of the current file, once: its first line is to be written now."""
        opening, self._opening = self._opening, None
        return opening

    def _open(self) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        return os.open(self.path, flags, 0o640)

    def isatty(self) -> bool:
        return False

    def room(self) -> int | None:
        """Bytes this file takes before it rotates (None: it never does). The writer ends
        a batch there, so that a file passes `max_bytes` by one record (and a checkpoint)."""
        if self.max_bytes is None:
            return None
        return max(0, self.max_bytes - os.fstat(self._fd).st_size)

    def write(self, text: str) -> int:
        """Append whole lines (one batch); rotate after it once the file is full."""
        self._append(text.encode())
        if self.max_bytes is not None and os.fstat(self._fd).st_size >= self.max_bytes:
            self.rotate()
        return len(text)

    def _append(self, data: bytes) -> None:
        start = os.fstat(self._fd).st_size
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, start)
            raise

    def flush(self) -> None:
        pass  # every write went to the kernel already

    def rotate(self) -> None:
        os.close(self._fd)
        removed = None
        for n in range(self.keep, 0, -1):
            older = f"{self.path}.{n}"
            if n == self.keep:
                if os.path.exists(older):
                    removed = seq_range(older)
                    os.unlink(older)
                continue
            if os.path.exists(older):
                os.replace(older, f"{self.path}.{n + 1}")
        if self.keep > 0:
            os.replace(self.path, f"{self.path}.1")
        else:
            removed = seq_range(self.path)
            os.unlink(self.path)
        self._fd = self._open()
        self._opening = Opening("rotation", removed)

    def close(self) -> None:
        os.close(self._fd)


def chain_position(path: str, key: bytes | None) -> Position | None:
    """Where the chain of the log at `path` stands (its last sealed line, or the newest
    rotated file's when the current one is empty); None for a new or unsealed log."""
    for candidate in (path, f"{path}.1"):
        for line in reversed(_tail_lines(candidate)):
            position = position_after(line, key)
            if position is not None:  # a torn last line stays, and `verify` will show it
                return position
    return None


def seq_range(path: str) -> tuple[int, int] | None:
    """The first and last seq of a sealed log file (None if it holds no sealed line)."""
    seqs = []
    for line in (*_head_lines(path)[:1], *_tail_lines(path)[-1:]):
        try:
            seq = json.loads(line).get("seq")
        except (ValueError, AttributeError):
            continue
        if isinstance(seq, int):
            seqs.append(seq)
    return (seqs[0], seqs[-1]) if seqs else None


def _head_lines(path: str) -> list[bytes]:
    try:
        with open(path, "rb") as log:
            return log.read(TAIL_BYTES).split(b"\n")[:-1]
    except OSError:
        return []


def _tail_lines(path: str) -> list[bytes]:
    if not os.path.isfile(path):  # a fifo or a device: nothing to read back (and no blocking)
        return []
    try:
        with open(path, "rb") as log:
            size = os.fstat(log.fileno()).st_size
            log.seek(max(0, size - TAIL_BYTES))
            return [line for line in log.read().split(b"\n") if line.strip()]
    except OSError:
        return []
