"""The `sockspy` command line."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

import trio

from sockspy import __version__
from sockspy.core.serving.address import (
    AddressError,
    ListenAddress,
    TcpAddress,
    parse_listen_address,
    parse_upstream_address,
)
from sockspy.core.serving.exposure import INSECURE_FLAG, exposed_fronts, refusal
from sockspy.io.exposure import planned_tcp_fronts
from sockspy.io.listeners import ListenError
from sockspy.io.logsink import AuditLog, LogFormat
from sockspy.io.reload import LoadedPolicy, ReloadError
from sockspy.io.server import ServeConfig, Server
from sockspy.io.tls import TlsConfigError, server_context
from sockspy.opscli import add_operating_arguments, loaded_policy, operating_settings
from sockspy.policy.commands import check_main, explain_main, load_named
from sockspy.policy.load import PolicyError
from sockspy.policy.model import Policy
from sockspy.policy.presets import PRESETS
from sockspy.policy.tecnativa import policy_from_env
from sockspy.tlscli import (
    add_certs_command,
    add_serve_arguments,
    certs_main,
    server_tls_files,
    upstream_tls,
)

DEFAULT_LISTEN = "tcp://127.0.0.1:2375"
DEFAULT_UPSTREAM = "unix:///var/run/docker.sock"
DEFAULT_PRESET = "readonly"


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
        "-c",
        "--config",
        metavar="POLICY",
        default=None,
        help="policy: a TOML file, or a preset name (" + ", ".join(PRESETS) + "); "
        "default: docker-socket-proxy's variables if any is set, else the "
        f"{DEFAULT_PRESET!r} preset",
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
        help="deny an endpoint by name (e.g. container.create) with 403, whatever the "
        "policy says; repeatable",
    )
    serve.add_argument(
        INSECURE_FLAG,
        action="store_true",
        help="allow tcp fronts beyond loopback without client certificates (plain tcp, or "
        "--tls without --tlsverify): anyone who reaches them gets the Docker API (refused "
        "by default, as dockerd does since v27)",
    )
    add_serve_arguments(serve)
    add_operating_arguments(serve)

    check = commands.add_parser(
        "check",
        help="validate a policy and print its effective rules",
        description="Validate a policy file (or preset) and print its effective rules. "
        "Problems are printed as FILE:LINE: message; the exit code is 1 if there are any.",
    )
    check.add_argument("policy", metavar="POLICY", help="a TOML policy file or a preset name")

    explain = commands.add_parser(
        "explain",
        help="show which rule of a policy decides a request, and why",
        description="Decide one request with a policy, as `serve` would, and print why. "
        "Exit code 0: forwarded; 1: denied or refused; 2: unusable input.",
    )
    explain.add_argument("policy", metavar="POLICY", help="a TOML policy file or a preset name")
    explain.add_argument(
        "request", metavar="'METHOD /path'", help="e.g. 'POST /v1.45/containers/create'"
    )
    explain.add_argument("--body", metavar="FILE", default=None, help="the request body (JSON)")
    explain.add_argument("--uid", type=int, default=None, help="the client's unix uid")
    explain.add_argument("--gid", type=int, default=None, help="the client's unix gid")
    explain.add_argument("--ip", default=None, help="the client's tcp source address")
    explain.add_argument(
        "--tls-name",
        action="append",
        default=[],
        metavar="NAME",
        help="a name of the client's TLS certificate (CN or SAN); repeatable",
    )
    add_certs_command(commands)
    return parser


def choose_policy(config: str | None, env: Mapping[str, str]) -> tuple[Policy, str]:
    """The policy `serve` enforces and a one-line note on where it came from.

    An explicit -c wins; then docker-socket-proxy's variables; then the readonly preset,
    so that a first `sockspy serve` is safe and `docker ps` still works through it.
    Raises PolicyError.
    """
    if config is not None:
        policy = load_named(config)
        return policy, f"policy {policy.source} (mode {policy.mode})"
    from_env = policy_from_env(env)
    if from_env is not None:
        return from_env, (
            f"policy from docker-socket-proxy variables in the environment (mode {from_env.mode})"
        )
    policy = load_named(DEFAULT_PRESET)
    return policy, (
        f"no policy given (-c): using the {DEFAULT_PRESET!r} preset, lists and inspects "
        f"only (see `sockspy check {DEFAULT_PRESET}`)"
    )


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
    try:
        tls_files = server_tls_files(args, os.environ)
        tls = server_context(tls_files) if tls_files is not None else None
        target = upstream_tls(args, upstream, args.upstream is None, os.environ)
    except TlsConfigError as exc:
        print(f"sockspy: {exc}", file=sys.stderr)
        return 2
    if not args.tlsverify and not args.insecure_plain_tcp:
        exposed = exposed_fronts(planned_tcp_fronts(listen))
        if exposed:
            print(f"sockspy: {refusal(exposed, tls is not None)}", file=sys.stderr)
            return 2

    try:
        policy, note = choose_policy(args.config, os.environ)
    except PolicyError as exc:
        for problem in exc.problems:
            print(f"sockspy: {problem}", file=sys.stderr)
        return 2
    print(f"sockspy: {note}", file=sys.stderr)

    stream: TextIO = sys.stdout
    if args.log_file:
        stream = open(args.log_file, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
    fmt: LogFormat = args.log_format or ("console" if stream.isatty() else "json")
    log = AuditLog(fmt, stream)
    first = loaded_policy(policy, args.deny_endpoint)
    log.emit({"event": "policy", **first.fields})

    def reload() -> LoadedPolicy:  # SIGHUP: the same source again (file, preset or env)
        try:
            again, _ = choose_policy(args.config, os.environ)
        except PolicyError as exc:
            raise ReloadError([str(problem) for problem in exc.problems]) from None
        return loaded_policy(again, args.deny_endpoint)

    config = ServeConfig(
        listen=listen,
        upstream=target,
        gate=first.gate,
        log=log,
        socket_mode=args.socket_mode,
        socket_group=args.socket_group,
        grace_period=args.grace_period,
        max_body_bytes=first.max_body_bytes,
        tls=tls,
        reload=reload,
        # SIGHUP: the same certificate files, read again
        reload_tls=(lambda: server_context(tls_files)) if tls_files is not None else None,
        tls_cert_file=tls_files.cert if tls_files is not None else None,
        policy_fields=first.fields,
        **operating_settings(args),
    )
    server = Server(config)

    def late_signal(signum: int, frame: object) -> None:
        # Outside the server's own signal receiver: before it opens (stop at once) or
        # after it closed (a repeat of the signal being handled: ignore it).
        if not server.stopping:
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, late_signal)
    signal.signal(signal.SIGINT, late_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a reload outside the server's receiver
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
    if args.command == "check":
        return check_main(args.policy, sys.stdout)
    if args.command == "explain":
        return explain_main(
            args.policy, args.request, args.body, args.uid, args.gid, args.ip, sys.stdout,
            tls_names=args.tls_name,
        )  # fmt: skip
    if args.command == "certs":
        return certs_main(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
