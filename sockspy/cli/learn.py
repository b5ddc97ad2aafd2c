"""`sockspy learn FILE... [--profile-by KIND] > policy.toml`: a least-privilege policy from
the traffic an audit log recorded (`sockspy.core.audit.learn`)."""

from __future__ import annotations

import argparse
import sys

from sockspy.cli.audit import read_records
from sockspy.core.audit.learn import PROFILE_BY, learn


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "learn",
        help="write a least-privilege policy from the traffic an audit log recorded",
        description="Read audit logs (record them with a policy in audit mode that reads "
        "findings, so host access is seen) and print a policy: one profile per client "
        "kind, allowing the endpoints each used; host access stays denied, and what was "
        "seen to need it is written as commented rules for review.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument(
        "--profile-by", choices=PROFILE_BY, default="uid",
        help="what tells clients apart (default: uid)",
    )  # fmt: skip
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        records = read_records(args.files)
    except (OSError, ValueError) as exc:
        print(f"sockspy learn: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(learn(records, args.profile_by))
    return 0
