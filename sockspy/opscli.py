"""The operating part of `serve`'s command line: limits, the admin address, policy reload."""

from __future__ import annotations

import argparse
import re
from typing import Any

from sockspy.core.deciding.decision import DenyEndpoints, Gate
from sockspy.core.serving.address import (
    AddressError,
    FdAddress,
    ListenAddress,
    parse_listen_address,
)
from sockspy.core.wire.head import MAX_HEAD_BYTES
from sockspy.io.reload import LoadedPolicy
from sockspy.policy.engine import PolicyGate
from sockspy.policy.model import Policy

DEFAULT_HEAD_TIMEOUT = 30.0


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


def add_operating_arguments(serve: argparse.ArgumentParser) -> None:
    group = serve.add_argument_group("limits, health and reload (SIGHUP reloads the policy)")
    group.add_argument(
        "--max-connections",
        type=_positive_int,
        metavar="N",
        help="open client connections at most, in total; more get 503 (default: no limit)",
    )
    group.add_argument(
        "--max-connections-per-client",
        type=_positive_int,
        metavar="N",
        help="open connections at most per client (unix uid, tcp address); more get 429",
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


def operating_settings(args: argparse.Namespace) -> dict[str, Any]:
    """`ServeConfig` keyword arguments from the flags above."""
    return {
        "max_connections": args.max_connections,
        "max_connections_per_client": args.max_connections_per_client,
        "head_timeout": args.head_timeout or None,
        "max_head_bytes": args.max_head_bytes,
        "rate_limit": args.rate_limit,
        "rate_burst": args.rate_burst,
        "admin": list(args.admin_listen),
    }


def loaded_policy(policy: Policy, deny_endpoints: list[str]) -> LoadedPolicy:
    """The gate `serve` enforces for `policy`, and the fields of its audit records."""
    gate: Gate = PolicyGate(policy)
    if deny_endpoints:
        gate = DenyEndpoints(deny_endpoints, inner=gate)
    fields = {
        "source": policy.source,
        "mode": policy.mode,
        "rules": len(policy.rules),
        "profiles": len(policy.profiles),
        "deny_endpoints": sorted(deny_endpoints),
    }
    return LoadedPolicy(gate, policy.max_body_bytes, fields)
