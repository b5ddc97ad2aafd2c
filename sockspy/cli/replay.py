"""`sockspy replay POLICY FILE...`: what would a candidate policy have done to a recorded
day? Every recorded request decided again, offline, and each change listed."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from sockspy.cli.audit import read_records
from sockspy.cli.policies import load_named
from sockspy.core.audit.replay import Replayed, replay
from sockspy.core.audit.view import who
from sockspy.policy.engine import PolicyGate
from sockspy.policy.load import PolicyError


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "replay",
        help="decide recorded requests again under another policy: what would change",
        description="Decide every request of the audit logs FILE... again under POLICY (a "
        "file or a preset), offline, with the daemon's recorded answers, and list each "
        "request whose fate changes (newly denied, newly allowed) with the rule "
        "responsible; a request denied for want of a daemon answer the log does not hold "
        "is undecided. Records written at audit level metadata replay from their request "
        "line alone and are marked approximate. Exit status: 0 when no request is newly "
        "denied, 1 when one is (a policy change can be gated on it in CI), 2 on an error.",
    )
    parser.add_argument("policy", metavar="POLICY")
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument(
        "--enforce", action="store_true", help="replay POLICY in enforce mode whatever it says"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        policy = load_named(args.policy)
    except (PolicyError, OSError) as exc:
        print(f"sockspy replay: {exc}", file=sys.stderr)
        return 2
    if args.enforce:
        policy = dataclasses.replace(policy, mode="enforce")
    try:
        records = read_records(args.files)
    except (OSError, ValueError) as exc:
        print(f"sockspy replay: {exc}", file=sys.stderr)
        return 2
    results = list(replay(PolicyGate(policy), records))
    changed = [r for r in results if r.change is not None]
    if args.format == "json":
        print(json.dumps([_as_dict(r) for r in changed], indent=2))
    else:
        for result in changed:
            print(_line(result))
        count = {change: sum(r.change == change for r in changed) for change in _CHANGES}
        rough = sum(r.approximate for r in results)
        print(
            f"{len(results)} requests replayed under {policy.source}: "
            f"{count['newly denied']} newly denied, {count['newly allowed']} newly allowed, "
            f"{len(results) - len(changed)} unchanged"
            + (
                f", {count['undecided']} undecided (the log holds no answer to a look-up "
                "the policy makes: recorded under a policy that made none)"
                if count["undecided"]
                else ""
            )
            + (f" ({rough} approximate: recorded without decision_input)" if rough else "")
        )
    return 1 if any(r.change == "newly denied" for r in changed) else 0


_CHANGES = ("newly denied", "newly allowed", "undecided")


def _line(result: Replayed) -> str:
    record, now = result.record, result.now
    why = f"rule {now.rule}" + (f": {now.reason}" if now.reason and not now.allowed else "")
    mark = " (approximate)" if result.approximate else ""
    return (
        f"{result.change:<13} {record.get('record_id')} {record.get('timestamp', '')} "
        f"{who(record)}  {record.get('method')} {record.get('endpoint')} "
        f"{record.get('target')}  was {result.then} by {record.get('rule')}, now {why}{mark}"
    )


def _as_dict(result: Replayed) -> dict[str, object]:
    record, now = result.record, result.now
    return {
        "change": result.change,
        "record_id": record.get("record_id"),
        "timestamp": record.get("timestamp"),
        "client": who(record),
        "method": record.get("method"),
        "endpoint": record.get("endpoint"),
        "target": record.get("target"),
        "then": {"decision": result.then, "rule": record.get("rule")},
        "now": {"decision": now.outcome, "rule": now.rule, "reason": now.reason, "code": now.code},
        "approximate": result.approximate,
        "unknown": [type(lookup).__name__ for lookup in result.unknown],
    }
