"""Every flag of `sockspy serve`, and what they turn into.

dockerd's own flags where there is one (`-H`, `--tls*`, with its defaults: certificate
files in $DOCKER_CERT_PATH, else ~/.docker). The upstream side reads the docker CLI's
environment: an upstream taken from $DOCKER_HOST is reached over TLS when
$DOCKER_TLS_VERIFY is set, with the CLI's files (ca.pem, cert.pem, key.pem in
$DOCKER_CERT_PATH); `--upstream-tls*` flags say the same explicitly.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sockspy.cli.policies import DEFAULT_PRESET
from sockspy.core.serving.address import (
    AddressError,
    FdAddress,
    ListenAddress,
    TcpAddress,
    UpstreamAddress,
    parse_listen_address,
)
from sockspy.core.serving.exposure import INSECURE_FLAG
from sockspy.core.serving.limits import default_connection_limits, default_refusals
from sockspy.core.wire.head import MAX_HEAD_BYTES
from sockspy.io.logsink import BLOCK_SECONDS, DURABILITIES, QUEUE_SIZE
from sockspy.io.tls import TlsConfigError, TlsFiles, client_context
from sockspy.io.upstream import TlsUpstream, Upstream
from sockspy.policy.presets import PRESETS

DEFAULT_LISTEN = "tcp://127.0.0.1:2375"
DEFAULT_UPSTREAM = "unix:///var/run/docker.sock"
DEFAULT_HEAD_TIMEOUT = 30.0
DEFAULT_IDLE_TIMEOUT = 600.0
DEFAULT_TRANSCRIPT_DIR = "/var/lib/sockspy/transcripts"


def add_arguments(serve: argparse.ArgumentParser) -> None:
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
        "--workers",
        type=_positive_int,
        default=1,
        metavar="N",
        help="serve with N processes behind the same fronts, one audit log (default: 1)",
    )
    serve.add_argument("--worker-audit-fd", type=int, default=None, help=argparse.SUPPRESS)
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
        "--log-max-bytes",
        type=int,
        default=None,
        metavar="BYTES",
        help="rotate --log-file when it passes BYTES (PATH.1, PATH.2...; the hash chain "
        "goes on across files)",
    )
    serve.add_argument(
        "--log-keep", type=int, default=5, metavar="N", help="rotated files kept (default 5)"
    )
    serve.add_argument(
        "--audit-key",
        metavar="FILE",
        default=None,
        help="seal the log's hash chain with HMAC-SHA-256 under this key (16 bytes or more): "
        "without the key nobody can recompute the chain after a change",
    )
    serve.add_argument(
        "--audit-signing-key",
        metavar="FILE",
        default=None,
        help="an Ed25519 private key (PEM; `sockspy audit keygen`) that signs a checkpoint "
        "every --checkpoint-every records or --checkpoint-seconds, and at shutdown",
    )
    serve.add_argument(
        "--audit-durability",
        choices=DURABILITIES,
        default="best_effort",
        help="when the log cannot keep up or be written: best_effort drops and counts "
        "records (the default); block makes requests and responses wait for it (10 s at "
        "most, then drops); strict refuses new requests with 503 until it can write again",
    )
    serve.add_argument(
        "--audit-block-seconds",
        type=float,
        default=BLOCK_SECONDS,
        metavar="SECONDS",
        help=f"with block durability, how long bytes wait for the log (default {BLOCK_SECONDS:g})",
    )
    serve.add_argument(
        "--audit-buffer",
        type=int,
        default=QUEUE_SIZE,
        metavar="RECORDS",
        help=f"records queued for the log writer at most (default {QUEUE_SIZE})",
    )
    serve.add_argument("--checkpoint-every", type=int, default=1000, metavar="N")
    serve.add_argument("--checkpoint-seconds", type=float, default=60.0, metavar="SECONDS")
    serve.add_argument(
        "--transcript-dir",
        metavar="DIR",
        default=DEFAULT_TRANSCRIPT_DIR,
        help="where the asciicast transcripts of sessions a rule records go (created 0700; "
        f"default {DEFAULT_TRANSCRIPT_DIR})",
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
    _add_tls_arguments(serve)
    _add_operating_arguments(serve)


def _add_tls_arguments(serve: argparse.ArgumentParser) -> None:
    group = serve.add_argument_group(
        "TLS on tcp fronts (dockerd's flags; files default to $DOCKER_CERT_PATH or ~/.docker)"
    )
    group.add_argument("--tls", action="store_true", help="serve tcp fronts over TLS")
    group.add_argument(
        "--tlsverify",
        action="store_true",
        help="serve tcp fronts over TLS and require a client certificate signed by "
        "--tlscacert (mTLS); its names match profiles' tls_names",
    )
    group.add_argument("--tlscacert", metavar="FILE", help="CA of client certificates")
    group.add_argument("--tlscert", metavar="FILE", help="the server certificate")
    group.add_argument("--tlskey", metavar="FILE", help="the server key")
    up = serve.add_argument_group(
        "TLS to a tcp upstream (default: on if --upstream comes from $DOCKER_HOST and "
        "$DOCKER_TLS_VERIFY is set, as for the docker CLI)"
    )
    up.add_argument("--upstream-tls", action="store_true", help="reach the daemon over TLS")
    up.add_argument(
        "--upstream-tlsverify",
        action="store_true",
        help="reach the daemon over TLS and verify its certificate with --upstream-tlscacert",
    )
    up.add_argument("--upstream-tlscacert", metavar="FILE", help="CA of the daemon's certificate")
    up.add_argument("--upstream-tlscert", metavar="FILE", help="sockspy's client certificate")
    up.add_argument("--upstream-tlskey", metavar="FILE", help="sockspy's client key")


def _add_operating_arguments(serve: argparse.ArgumentParser) -> None:
    group = serve.add_argument_group("limits, health and reload (SIGHUP reloads the policy)")
    group.add_argument(
        "--max-connections",
        type=_positive_int,
        metavar="N",
        help="open client connections at most, in total; more get 503 (default: from the "
        "open-file limit, a third of it less a reserve)",
    )
    group.add_argument(
        "--max-connections-per-client",
        type=_positive_int,
        metavar="N",
        help="open connections at most per client (certificate, unix uid, tcp address); "
        "more get 429 (default: a quarter of the default --max-connections)",
    )
    group.add_argument(
        "--head-timeout",
        type=_seconds,
        default=DEFAULT_HEAD_TIMEOUT,
        metavar="SECONDS",
        help="a request head begun but not complete after this long gets 408 and is closed; "
        "never applies to idle keep-alive connections, bodies or streams; 0: none "
        f"(default: {DEFAULT_HEAD_TIMEOUT:g})",
    )
    group.add_argument(
        "--idle-timeout",
        type=_seconds,
        default=DEFAULT_IDLE_TIMEOUT,
        metavar="SECONDS",
        help="a keep-alive connection with no request for this long is closed (clients "
        "open a new one); never applies while an exchange or a stream is under way; 0: "
        f"none (default: {DEFAULT_IDLE_TIMEOUT:g})",
    )
    group.add_argument(
        "--max-head-bytes",
        type=_positive_int,
        default=MAX_HEAD_BYTES,
        metavar="BYTES",
        help=f"a larger request head gets 431 (default: {MAX_HEAD_BYTES}, as dockerd)",
    )
    group.add_argument(
        "--rate-limit",
        type=_rate,
        metavar="N/s",
        help="requests a second per client, over which 429 (default: no limit)",
    )
    group.add_argument(
        "--rate-burst",
        type=_positive_int,
        metavar="N",
        help="requests a client may send at once within --rate-limit (default: the rate)",
    )
    group.add_argument(
        "--admin-listen",
        type=_admin_address,
        action="append",
        default=[],
        metavar="ADDR",
        help="serve GET /healthz and GET /metrics (JSON) on this tcp:// or unix:// address, "
        "apart from the proxied fronts; repeatable",
    )


def _mode(text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an octal mode like 0660") from None
    if not 0 <= mode <= 0o777:
        raise argparse.ArgumentTypeError(f"{text!r} is not a file mode")
    return mode


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds")
    return value


def _rate(text: str) -> float:
    """`N` or `N/s`: requests a second."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(?:/s)?\s*", text)
    if match is None or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate like 20/s")
    return float(match.group(1))


def _admin_address(text: str) -> ListenAddress:
    try:
        address = parse_listen_address(text)
    except AddressError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if isinstance(address, FdAddress):
        raise argparse.ArgumentTypeError(f"{text!r}: the admin address is tcp:// or unix://")
    return address


def operating_settings(args: argparse.Namespace, open_files: int) -> dict[str, Any]:
    """`ServeConfig` keyword arguments from the flags above; connection limits not given
    come from the process's open-file limit."""
    total, per_client = default_connection_limits(open_files)
    total = args.max_connections or total
    return {
        "max_connections": total,
        "max_connections_per_client": args.max_connections_per_client or min(per_client, total),
        "max_refusals": default_refusals(open_files),
        "head_timeout": args.head_timeout or None,
        "idle_timeout": args.idle_timeout or None,
        "max_head_bytes": args.max_head_bytes,
        "rate_limit": args.rate_limit,
        "rate_burst": args.rate_burst,
        "admin": list(args.admin_listen),
        "transcript_dir": args.transcript_dir,
    }


def _cert_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("DOCKER_CERT_PATH") or Path.home() / ".docker")


def server_tls_files(args: argparse.Namespace, env: Mapping[str, str]) -> TlsFiles | None:
    """The fronts' TLS files as dockerd would find them, or None for plain tcp fronts."""
    if not (args.tls or args.tlsverify or args.tlscert or args.tlskey):
        return None
    folder = _cert_dir(env)
    return TlsFiles(
        verify=args.tlsverify,
        cacert=args.tlscacert or str(folder / "ca.pem"),
        cert=args.tlscert or str(folder / "cert.pem"),
        key=args.tlskey or str(folder / "key.pem"),
    )


def upstream_tls(
    args: argparse.Namespace, upstream: UpstreamAddress, from_env: bool, env: Mapping[str, str]
) -> Upstream:
    """`upstream`, reached over TLS if the flags (or the CLI's environment) say so."""
    flags = (args.upstream_tlscacert, args.upstream_tlscert, args.upstream_tlskey)
    verify = args.upstream_tlsverify
    wanted = args.upstream_tls or verify or any(flags)
    if not wanted and from_env and env.get("DOCKER_TLS_VERIFY"):
        wanted = verify = True
    if not wanted:
        return upstream
    if not isinstance(upstream, TcpAddress):
        raise TlsConfigError(f"TLS to the upstream needs a tcp:// upstream, not {upstream}")
    folder = _cert_dir(env)

    def default(name: str) -> str | None:
        path = folder / name
        return str(path) if path.exists() else None

    files = TlsFiles(
        verify=verify,
        cacert=args.upstream_tlscacert or default("ca.pem"),
        cert=args.upstream_tlscert or default("cert.pem"),
        key=args.upstream_tlskey or default("key.pem"),
    )
    return TlsUpstream(upstream, client_context(files))
