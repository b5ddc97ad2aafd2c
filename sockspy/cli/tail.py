"""`sockspy tail`: the running server's exchanges and sessions as they happen, one line
each, like `kubectl get events -w`.

It reads the audit log file the server appends to (following rotation, as `tail -F`
does), so it never slows the server: the server does not know it is there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import IO

from sockspy.core.audit.view import Filter, line

POLL_SECONDS = 0.2


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tail = commands.add_parser(
        "tail",
        help="show the server's exchanges and sessions live, one line each",
        description="Follow the audit log FILE (the server's --log-file, JSON) and print one "
        "line per exchange, session and refused connection: time, verdict, who, request, "
        "status, and for denials the rule. Follows rotation. Ctrl-C ends it.",
    )
    tail.add_argument("file", metavar="FILE")
    tail.add_argument("--denied", action="store_true", help="only denials and refusals")
    tail.add_argument("--client", metavar="TEXT", help="only clients whose description holds TEXT")
    tail.add_argument("--endpoint", metavar="GLOB", help="only endpoints matching GLOB")
    tail.add_argument(
        "--container", metavar="TEXT", help="only requests about a container named or id'd TEXT"
    )
    tail.add_argument(
        "-n", "--lines", type=int, default=10, metavar="N", help="show the last N first (10)"
    )
    tail.add_argument("--no-follow", action="store_true", help="print what is there and stop")
    tail.add_argument(
        "--color", choices=("auto", "always", "never"), default="auto", help="colour the verdicts"
    )
    tail.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    shown = Filter(args.denied, args.client, args.endpoint, args.container)
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    try:
        for record in _records(args.file, args.lines, follow=not args.no_follow):
            if shown.shows(record):
                print(line(record, color), flush=True)
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"sockspy tail: {exc}", file=sys.stderr)
        return 1
    return 0


def _records(path: str, backlog: int, follow: bool) -> Iterator[dict[str, object]]:
    log = open(path, "rb")  # noqa: SIM115  # reopened on rotation
    try:
        lines = log.read().split(b"\n")
        partial = lines.pop()  # the last line may be being written
        for raw in lines[-backlog:] if backlog > 0 else []:
            yield from _parsed(raw)
        while follow:
            chunk = log.read()
            if chunk:
                partial += chunk
                *complete, partial = partial.split(b"\n")
                for raw in complete:
                    yield from _parsed(raw)
                continue
            if _rotated(log, path):
                yield from _parsed(partial)  # the rotated file's last line is whole
                for newer in _rotated_since(path, os.fstat(log.fileno())):
                    yield from _whole_file(newer)
                log.close()
                log = open(path, "rb")  # noqa: SIM115
                partial = b""
                continue
            time.sleep(POLL_SECONDS)
    finally:
        log.close()


def _rotated(log: IO[bytes], path: str) -> bool:
    """The server moved on to a new file (or cut this one)."""
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False  # between the rename and the new file
    mine = os.fstat(log.fileno())
    return (now.st_ino, now.st_dev) != (mine.st_ino, mine.st_dev) or now.st_size < log.tell()


def _rotated_since(path: str, mine: os.stat_result) -> list[str]:
    """The rotated files newer than the one read so far, oldest first: the server may
    rotate more than once between two polls (`sockspy.io.logfile`: FILE.1 is the newest)."""
    rotated: list[str] = []
    n = 1
    while os.path.exists(f"{path}.{n}"):
        older = f"{path}.{n}"
        try:
            st = os.stat(older)
        except FileNotFoundError:
            break
        if (st.st_ino, st.st_dev) == (mine.st_ino, mine.st_dev):
            return rotated[::-1]
        rotated.append(older)
        n += 1
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return rotated[::-1]
    if (now.st_ino, now.st_dev) == (mine.st_ino, mine.st_dev):
        return []  # the same file, cut: no rotation
    return rotated[::-1]  # the file read so far was rotated out of the kept ones


def _whole_file(path: str) -> Iterator[dict[str, object]]:
    try:
        with open(path, "rb") as rotated:
            data = rotated.read()
    except FileNotFoundError:
        return
    for raw in data.split(b"\n"):
        yield from _parsed(raw)


def _parsed(raw: bytes) -> Iterator[dict[str, object]]:
    try:
        record = json.loads(raw)
    except ValueError:
        return
    if isinstance(record, dict):
        yield record
