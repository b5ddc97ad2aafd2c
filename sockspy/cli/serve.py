"""`sockspy serve`: the policy, the fronts and the audit log, then the server until a signal."""

from __future__ import annotations

import argparse
import os
import signal
import sys

import trio

from sockspy.cli.audit import load_signing_key, read_key
from sockspy.cli.policies import choose_policy
from sockspy.cli.serve_flags import (
    DEFAULT_LISTEN,
    DEFAULT_UPSTREAM,
    add_arguments,
    operating_settings,
    server_tls_files,
    upstream_tls,
)
from sockspy.core.audit.chain import Chain, Position
from sockspy.core.deciding.gate import DenyEndpoints, Gate
from sockspy.core.proxy.lineage import Lineage
from sockspy.core.records import PolicyFields, PolicyRecord, WorkersRecord
from sockspy.core.serving.address import (
    AddressError,
    ListenAddress,
    TcpAddress,
    parse_listen_address,
    parse_upstream_address,
)
from sockspy.core.serving.exposure import exposed_fronts, refusal
from sockspy.io.exposure import planned_tcp_fronts
from sockspy.io.fdlimit import raise_open_files_limit
from sockspy.io.lineage_log import rebuild
from sockspy.io.listeners import ListenError
from sockspy.io.logfile import LogFile, chain_position
from sockspy.io.logsink import AuditLog, LogFormat, Sink, json_renderer
from sockspy.io.reload import LoadedPolicy, ReloadError
from sockspy.io.server import ServeConfig, Server
from sockspy.io.tls import TlsConfigError, load_server_tls
from sockspy.io.upstream import Upstream
from sockspy.io.workers import REPORT_SECONDS, Supervisor, worker_argv
from sockspy.policy.engine import PolicyGate
from sockspy.policy.load import PolicyError
from sockspy.policy.model import Policy


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="proxy a front socket to the Docker daemon, auditing every exchange",
        description="Proxy front sockets to the Docker daemon, auditing every exchange.",
    )
    add_arguments(serve)
    serve.set_defaults(run=run)


def loaded_policy(policy: Policy, deny_endpoints: list[str]) -> LoadedPolicy:
    """The gate `serve` enforces for `policy`, and the fields of its audit records."""
    gate: Gate = PolicyGate(policy)
    if deny_endpoints:
        gate = DenyEndpoints(deny_endpoints, inner=gate)
    fields: PolicyFields = {
        "source": policy.source,
        "mode": policy.mode,
        "rules": len(policy.rules),
        "profiles": len(policy.profiles),
        "deny_endpoints": sorted(deny_endpoints),
    }
    return LoadedPolicy(gate, fields)


def run(args: argparse.Namespace) -> int:
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
        tls = load_server_tls(tls_files) if tls_files is not None else None
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

    try:
        key = read_key(args.audit_key)
        signer = load_signing_key(args.audit_signing_key) if args.audit_signing_key else None
    except (OSError, ValueError) as exc:
        print(f"sockspy: {exc}", file=sys.stderr)
        return 2
    stream: Sink = sys.stdout
    start = Position()
    worker = args.worker_audit_fd is not None
    if worker:  # a worker of `--workers`: its records go to the supervisor, unsealed
        stream = os.fdopen(args.worker_audit_fd, "w", encoding="utf-8")
    elif args.log_file:
        start = chain_position(args.log_file, key) or Position()  # the chain goes on
        stream = LogFile(args.log_file, args.log_max_bytes, args.log_keep)
    fmt: LogFormat = (
        "json" if worker else args.log_format or ("console" if stream.isatty() else "json")
    )
    renderer = json_renderer()
    chain = (
        None
        if worker
        else Chain(lambda fields: str(renderer(None, "", fields)), key, signer, start)
    )
    log = AuditLog(
        fmt, stream, args.audit_buffer, chain=chain, checkpoint_every=args.checkpoint_every,
        checkpoint_seconds=args.checkpoint_seconds, durability=args.audit_durability,
        block_seconds=args.audit_block_seconds,
    )  # fmt: skip
    if args.workers > 1 and not worker:
        return _supervise(args, listen, log, stream, target)
    first = loaded_policy(policy, args.deny_endpoint)
    started: PolicyRecord = {"event": "policy", **first.fields}
    log.emit(started)

    def reload() -> LoadedPolicy:  # SIGHUP: the same source again (file, preset or env)
        try:
            again, _ = choose_policy(args.config, os.environ)
        except PolicyError as exc:
            raise ReloadError([str(problem) for problem in exc.problems]) from None
        return loaded_policy(again, args.deny_endpoint)

    lineage = Lineage()
    if args.log_file:
        rebuild(args.log_file, lineage)  # who made which object, as the last run saw it
    config = ServeConfig(
        listen=listen,
        lineage=lineage,
        upstream=target,
        gate=first.gate,
        log=log,
        socket_mode=args.socket_mode,
        socket_group=args.socket_group,
        grace_period=args.grace_period,
        tls=tls,
        reload=reload,
        # SIGHUP: the same certificate files, read again
        reload_tls=(lambda: load_server_tls(tls_files)) if tls_files is not None else None,
        policy_fields=first.fields,
        report_seconds=REPORT_SECONDS if worker else None,
        **operating_settings(args, raise_open_files_limit()),
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
    if isinstance(stream, LogFile):
        stream.close()
    return 0


def _supervise(
    args: argparse.Namespace,
    listen: list[ListenAddress],
    log: AuditLog,
    stream: Sink,
    upstream: Upstream,
) -> int:
    """`--workers N`: this process opens the fronts and writes the log; N workers serve."""
    raw = sys.argv[sys.argv.index("serve") + 1 :] if "serve" in sys.argv else []
    supervisor = Supervisor(
        args.workers, listen, worker_argv(raw), log, args.socket_mode, args.socket_group,
        admin=list(args.admin_listen), upstream=upstream,
    )  # fmt: skip
    started: WorkersRecord = {"event": "workers", "workers": args.workers}
    log.emit(started)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)  # until the supervisor's own receiver runs
    try:
        code = trio.run(supervisor.run)
    except ListenError as exc:
        print(f"sockspy: {exc}", file=sys.stderr)
        code = 1
    log.close()
    if isinstance(stream, LogFile):
        stream.close()
    return code
