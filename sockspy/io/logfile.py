"""The audit log file: appended to, rotated by size, and read back where a chain continues.

Rotation renames ``audit.jsonl`` to ``audit.jsonl.1`` (and ``.1`` to ``.2``...), keeping
`keep` old files, and starts a new file. It runs on the log writer thread between two
batches, so no line is split across files; the hash chain goes on across them (the first
line of the new file links to the last line of the old one).
"""

from __future__ import annotations

import contextlib
import os

from sockspy.core.audit.chain import Position, position_after

TAIL_BYTES = 1024 * 1024  # enough for the last line of any log


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

    def _open(self) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        return os.open(self.path, flags, 0o640)

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        """Append whole lines; rotate between two lines once the file is full."""
        if self.max_bytes is None:
            self._append(text.encode())
            return len(text)
        for line in text.splitlines(keepends=True):
            self._append(line.encode())
            if os.fstat(self._fd).st_size >= self.max_bytes:
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
        for n in range(self.keep, 0, -1):
            older = f"{self.path}.{n}"
            if n == self.keep:
                if os.path.exists(older):
                    os.unlink(older)
                continue
            if os.path.exists(older):
                os.replace(older, f"{self.path}.{n + 1}")
        if self.keep > 0:
            os.replace(self.path, f"{self.path}.1")
        else:
            os.unlink(self.path)
        self._fd = self._open()

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
