"""The `sockspy` command line: one module per command.

serve, check, explain, certs, audit (verify, report, keygen), tail, replay, learn.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from sockspy import __version__
from sockspy.cli import audit, certs, check, explain, learn, replay, serve, tail


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sockspy",
        description="A byte-transparent guard for the Docker daemon socket.",
    )
    parser.add_argument("--version", action="version", version=f"sockspy {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (serve, check, explain, certs, audit, tail, replay, learn):
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code
