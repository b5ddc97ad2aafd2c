"""The `sockspy` command line."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from typing import TextIO

import trio

from sockspy import __version__
from sockspy.core.address import (
    AddressError,
    ListenAddress,
    TcpAddress,
    parse_listen_address,
    parse_upstream_address,
)
from sockspy.core.decision import AllowAll, DenyEndpoints, Gate
from sockspy.io.listeners import ListenError
from sockspy.io.logsink import AuditLog, LogFormat
from sockspy.io.server import ServeConfig, Server

DEFAULT_LISTEN = "tcp://127.0.0.1:2375"
DEFAULT_UPSTREAM = "unix:///var/run/docker.sock"


def _mode(text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an octal mode like 0660") from None
    if not 0 <= mode <= 0o777:
        raise argparse.ArgumentTypeError(f"{text!r} is not a file mode")
    return mode


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sockspy",
        description="A byte-transparent guard for the Docker daemon socket.",
    )
    parser.add_argument("--version", action="version", version=f"sockspy {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="proxy a front socket to the Docker daemon, auditing every exchange",
        description="Proxy front sockets to the Docker daemon, auditing every exchange.",
    )
    serve.add_argument(
        "-H",
        "--listen",
        action="append",
        metavar="ADDR",
        default=None,
        help="front socket: unix:///path, tcp://host:port, fd:// or fd://N; repeatable "
        f"(default: {DEFAULT_LISTEN})",
    )
    serve.add_argument(
        "--upstream",
        metavar="ADDR",
        default=None,
        help="the daemon socket: unix:///path or tcp://host:port "
        f"(default: $DOCKER_HOST, else {DEFAULT_UPSTREAM})",
    )
    serve.add_argument(
        "--socket-mode",
        type=_mode,
        default=0o660,
        metavar="MODE",
        help="file mode of unix front sockets (default: 0660)",
    )
    serve.add_argument(
        "--socket-group",
        metavar="GROUP",
        default=None,
        help="group (name or gid) that owns unix front sockets (default: sockspy's group)",
    )
    serve.add_argument(
        "--log-format",
        choices=("json", "console"),
        default=None,
        help="audit log format (default: console on a terminal, else json)",
    )
    serve.add_argument(
        "--log-file",
        metavar="PATH",
        default=None,
        help="append the audit log to PATH instead of writing it to stdout",
    )
    serve.add_argument(
        "--grace-period",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="on SIGINT/SIGTERM, let open exchanges and streams run this long (default: 10)",
    )
    serve.add_argument(
        "--deny-endpoint",
        action="append",
        default=[],
        metavar="ENDPOINT",
        help="deny an endpoint by name (e.g. container.create) with 403; repeatable",
    )
    return parser


def _serve(args: argparse.Namespace) -> int:
    try:
        listen: list[ListenAddress] = [
            parse_listen_address(a) for a in args.listen or [DEFAULT_LISTEN]
        ]
        upstream = parse_upstream_address(
            args.upstream or os.environ.get("DOCKER_HOST") or DEFAULT_UPSTREAM
        )
    except AddressError as exc:
        print(f"sockspy: {exc}", file=sys.stderr)
        return 2
    if any(isinstance(a, TcpAddress) and str(a) == str(upstream) for a in listen):
        print(f"sockspy: the front {upstream} is also the upstream", file=sys.stderr)
        return 2

    stream: TextIO = sys.stdout
    if args.log_file:
        stream = open(args.log_file, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
    fmt: LogFormat = args.log_format or ("console" if stream.isatty() else "json")
    log = AuditLog(fmt, stream)
    gate: Gate = DenyEndpoints(args.deny_endpoint) if args.deny_endpoint else AllowAll()
    config = ServeConfig(
        listen=listen,
        upstream=upstream,
        gate=gate,
        log=log,
        socket_mode=args.socket_mode,
        socket_group=args.socket_group,
        grace_period=args.grace_period,
    )
    server = Server(config)

    def late_signal(signum: int, frame: object) -> None:
        # Outside the server's own signal receiver: before it opens (stop at once) or
        # after it closed (a repeat of the signal being handled: ignore it).
        if not server.stopping:
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, late_signal)
    signal.signal(signal.SIGINT, late_signal)
    try:
        trio.run(server.run)
    except ListenError as exc:
        log.close()
        print(f"sockspy: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        log.close()
        return 130
    log.close()
    if stream is not sys.stdout:
        stream.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
