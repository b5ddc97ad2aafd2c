"""Rebuild who-made-what (`Lineage`) from the audit log a previous run wrote.

Read once at start-up, before the server accepts anything: the last `TAIL_BYTES` of the
log file (older objects are the ones an LRU would have dropped first anyway). A line that
is not a JSON record (a console-format log, a torn last line) is skipped.
"""

from __future__ import annotations

import json
import os

from sockspy.core.proxy.lineage import Lineage

TAIL_BYTES = 64 * 1024 * 1024


def rebuild(path: str, lineage: Lineage) -> int:
    """Feed the records of `path` that made objects to `lineage`; how many it learnt."""
    if not os.path.isfile(path):  # a fifo or a device: nothing to read back
        return 0
    try:
        with open(path, "rb") as log:
            size = os.fstat(log.fileno()).st_size
            if size > TAIL_BYTES:
                log.seek(size - TAIL_BYTES)
                log.readline()  # the first line is a part of one
            learnt = 0
            for line in log:
                if b'"made"' not in line:
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    lineage.learn(record)
                    learnt += 1
            return learnt
    except OSError:
        return 0
