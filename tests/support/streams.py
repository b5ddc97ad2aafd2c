"""Read a child's output line by line in the background, with arrival times and deadlines."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import IO


def boottime() -> float:
    """Seconds since boot: the same clock a container reads from /proc/uptime."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


class LineReader:
    """Collect lines from a pipe in a thread; ``wait_for`` returns the first match."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self._lines: queue.Queue[tuple[bytes, float] | None] = queue.Queue()
        self.seen: list[bytes] = []
        self._thread = threading.Thread(target=self._pump, args=(pipe,), daemon=True)
        self._thread.start()

    def _pump(self, pipe: IO[bytes]) -> None:
        for line in iter(pipe.readline, b""):
            self._lines.put((line, boottime()))
        self._lines.put(None)

    def wait_for(self, match: Callable[[bytes], bool], timeout: float) -> tuple[bytes, float]:
        """The first line (from now on) for which ``match`` is true, and when it arrived."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                item = self._lines.get(timeout=remaining)
            except queue.Empty:
                break
            if item is None:
                raise AssertionError(f"stream ended without a matching line; saw {self.seen!r}")
            line, arrived = item
            self.seen.append(line)
            if match(line):
                return line, arrived
        raise AssertionError(f"no matching line within {timeout} s; saw {self.seen[-20:]!r}")
