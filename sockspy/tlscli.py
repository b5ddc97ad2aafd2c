"""The TLS part of the command line: `serve`'s TLS flags, and the `certs` command.

The flags are dockerd's (`--tls`, `--tlsverify`, `--tlscacert`, `--tlscert`, `--tlskey`)
with dockerd's defaults: files in $DOCKER_CERT_PATH, else ~/.docker. The upstream side
reads the same environment as the docker CLI: an upstream taken from $DOCKER_HOST is
reached over TLS when $DOCKER_TLS_VERIFY is set, with the CLI's files (ca.pem, cert.pem,
key.pem in $DOCKER_CERT_PATH); `--upstream-tls*` flags say the same explicitly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from sockspy.certs import DEFAULT_DAYS, CertsError, write_certs
from sockspy.core.serving.address import TcpAddress, UpstreamAddress
from sockspy.io.tls import TlsConfigError, TlsFiles, client_context
from sockspy.io.upstream import TlsUpstream, Upstream


def add_serve_arguments(serve: argparse.ArgumentParser) -> None:
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


def add_certs_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    certs = commands.add_parser(
        "certs",
        help="make a CA, a server certificate and client certificates for TLS fronts",
        description="Make (or extend) DIR with a CA (ca.pem, ca-key.pem), a server "
        "certificate (server-cert.pem, server-key.pem: for serve --tlscert/--tlskey) and one "
        "directory per client (DIR/NAME: ca.pem, cert.pem, key.pem; point DOCKER_CERT_PATH "
        "at it). An existing CA is reused; no other file is overwritten.",
    )
    certs.add_argument("directory", metavar="DIR")
    certs.add_argument(
        "--san",
        action="append",
        default=[],
        metavar="NAME",
        help="a DNS name or IP address of the server certificate; repeatable "
        "(default: localhost and 127.0.0.1)",
    )
    certs.add_argument(
        "--client",
        action="append",
        default=[],
        metavar="NAME",
        help="make a client certificate with CN and SAN NAME (profiles match it with "
        "tls_names); repeatable",
    )
    certs.add_argument(
        "--days", type=int, default=DEFAULT_DAYS, help=f"validity (default: {DEFAULT_DAYS})"
    )


def certs_main(args: argparse.Namespace) -> int:
    try:
        written = write_certs(Path(args.directory), args.san, args.client, args.days)
    except (CertsError, OSError) as exc:
        print(f"sockspy certs: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    print(_next_steps(Path(args.directory).absolute(), args.client), file=sys.stderr)
    return 0


def _next_steps(folder: Path, clients: list[str]) -> str:
    """What to run with the files: the serve flags and each client's environment."""
    lines = [
        "sockspy certs: serve with",
        f"  --tlsverify --tlscacert {folder / 'ca.pem'} --tlscert {folder / 'server-cert.pem'} "
        f"--tlskey {folder / 'server-key.pem'}",
    ]
    for name in clients:
        lines.append(f"client {name}: DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH={folder / name}")
    lines.append(f"keep {folder / 'ca-key.pem'} offline: whoever has it can make clients")
    return "\n".join(lines)
