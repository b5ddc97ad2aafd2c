"""`sockspy certs DIR`: make a CA, a server certificate and client certificates."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sockspy.certs import DEFAULT_DAYS, CertsError, write_certs


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    certs.set_defaults(run=certs_main)


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
