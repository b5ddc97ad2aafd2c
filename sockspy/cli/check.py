"""`sockspy check POLICY`: validate a policy and print it back, one line per setting.

Exit code 0 (valid) or 1 (problems, printed as ``FILE:LINE: message``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import TextIO

from sockspy.cli.policies import load_named
from sockspy.policy.load import PolicyError
from sockspy.policy.model import DEFAULT_PROFILE, Policy, Profile, Rule


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = commands.add_parser(
        "check",
        help="validate a policy and print its effective rules",
        description="Validate a policy file (or preset) and print its effective rules. "
        "Problems are printed as FILE:LINE: message; the exit code is 1 if there are any.",
    )
    check.add_argument("policy", metavar="POLICY", help="a TOML policy file or a preset name")
    check.set_defaults(run=lambda args: check_main(args.policy, sys.stdout))


def check_main(path: str, out: TextIO) -> int:
    try:
        policy = load_named(path)
    except PolicyError as exc:
        for problem in exc.problems:
            print(problem, file=out)
        return 1
    for line in describe(policy):
        print(line, file=out)
    return 0


def describe(policy: Policy) -> list[str]:
    """The effective policy, one line per setting, profile and rule."""
    lines = [
        f"policy: {policy.source}: OK",
        f"mode: {policy.mode}",
        f"min_api_version: {policy.min_api_version}",
        f"max_body_bytes: {policy.max_body_bytes}",
        f"max_build_context_bytes: {policy.max_build_context_bytes}",
    ]
    host = policy.host_access
    lines.append(
        "host_access: "
        + " ".join(
            f"{f.name}={json.dumps(_plain(getattr(host, f.name)))}"
            for f in dataclasses.fields(host)
        )
    )
    lines.append(f"profiles (first match wins; any other client is {DEFAULT_PROFILE!r}):")
    lines += [f"  {describe_profile(p)}" for p in policy.profiles] or ["  (none)"]
    lines.append("rules (first match wins; no match: deny by rule 'default'):")
    width = max((len(r.name) for r in policy.rules), default=0)
    for number, rule in enumerate(policy.rules, start=1):
        lines.append(f"  {number:>2}. {describe_rule(rule, width)}")
    if not policy.rules:
        lines.append("  (none: every request is denied)")
    return lines


def describe_profile(profile: Profile) -> str:
    parts = [profile.name]
    for label, values in (
        ("uids", profile.uids),
        ("gids", profile.gids),
        ("executables", profile.executables),
        ("containers", profile.containers),
        ("cidrs", profile.cidrs),
        ("tls_names", profile.tls_names),
        ("login_uids", profile.login_uids),
        ("units", profile.units),
        ("container_names", profile.container_names),
    ):
        if values:
            parts.append(f"{label}={','.join(str(v) for v in values)}")
    if profile.record is not None:
        parts.append(
            f"record={profile.record}" + (" (required)" if profile.record_required else "")
        )
    if profile.line:
        parts.append(f"(line {profile.line})")
    return " ".join(parts)


def describe_rule(rule: Rule, width: int = 0) -> str:
    parts = [f"{rule.action:<5}", rule.name.ljust(width)]
    for label, values in (
        ("profiles", rule.profiles),
        ("methods", rule.methods),
        ("endpoints", rule.endpoints),
        ("paths", rule.paths),
        ("query_true", rule.query_true),
        ("query_false", rule.query_false),
        ("if_findings", rule.if_findings),
        ("unless_findings", rule.unless_findings),
    ):
        if values:
            parts.append(f"{label}={','.join(values)}")
    if rule.query:
        parts.append("query=" + ",".join(f"{k}={v}" for k, v in rule.query))
    if len(parts) == 2:  # no condition was added
        parts.append("(every request)")
    if rule.message:
        parts.append(f"message={rule.message!r}")
    if rule.audit != "request":
        parts.append(f"audit={rule.audit}")
    if rule.record is not None:
        parts.append(f"record={rule.record}" + (" (required)" if rule.record_required else ""))
    if rule.line:
        parts.append(f"(line {rule.line})")
    return " ".join(parts)


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value
