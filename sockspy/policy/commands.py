"""`sockspy check` and `sockspy explain`: a policy read back, and one request decided by it.

Both take a policy file or a preset name (a file of that name wins). `explain` builds the
request through the real core (head parser, target and route classification), so what it
prints is what `sockspy serve` would decide, except for facts about existing containers
and volumes and about the daemon's own defaults: it does not ask the daemon, says so when a rule
would have, and decides as `serve` does when the daemon cannot be asked (the strict
checks).

Exit codes: `check` 0 (valid) or 1 (problems, printed as ``FILE:LINE: message``);
`explain` 0 (forwarded), 1 (denied or refused), 2 (unusable policy, request or body file).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from sockspy.core.deciding.decision import Facts
from sockspy.core.docker.gojson import BodyDecodeError
from sockspy.core.docker.request import Request, classify_request
from sockspy.core.proxy.conversation import MAX_INSPECTED_BODY
from sockspy.core.serving.identity import Client, PeerCred
from sockspy.core.wire.head import ProtocolError, parse_request_head
from sockspy.policy.engine import PolicyGate
from sockspy.policy.load import PolicyError, load_policy
from sockspy.policy.model import DEFAULT_PROFILE, Policy, Profile, Rule
from sockspy.policy.presets import PRESETS, load_preset


def load_named(path: str) -> Policy:
    """A policy file, or a preset by name when no such file exists."""
    if path in PRESETS and not os.path.exists(path):
        return load_preset(path)
    return load_policy(path)


# -- check ----------------------------------------------------------------------------------


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
    ]
    host = policy.host_access
    lines.append(
        "host_access: "
        + " ".join(
            f"{f.name}={json.dumps(list(getattr(host, f.name)))}" for f in dataclasses.fields(host)
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
    ):
        if values:
            parts.append(f"{label}={','.join(str(v) for v in values)}")
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
    if rule.line:
        parts.append(f"(line {rule.line})")
    return " ".join(parts)


# -- explain ----------------------------------------------------------------------------------


def explain_main(
    path: str | None,
    request_line: str,
    body_path: str | None,
    uid: int | None,
    gid: int | None,
    ip: str | None,
    out: TextIO,
    tls_names: Sequence[str] = (),
) -> int:
    def say(label: str, text: str) -> None:
        print(f"{label + ':' if label else '':<10} {text}".rstrip(), file=out)

    try:
        policy = load_named(path) if path is not None else Policy(source="<empty policy>")
    except PolicyError as exc:
        for problem in exc.problems:
            print(problem, file=out)
        return 2
    parts = request_line.split()
    if len(parts) not in (2, 3) or not parts[1].startswith("/"):
        print(f"sockspy explain: expected 'METHOD /path', got {request_line!r}", file=out)
        return 2
    method, target = parts[0], parts[1]
    body = b""
    if body_path is not None:
        try:
            body = Path(body_path).read_bytes()
        except OSError as exc:
            print(f"sockspy explain: cannot read {body_path}: {exc.strerror}", file=out)
            return 2

    say("policy", f"{policy.source} (mode {policy.mode})")
    say("request", f"{method} {target}" + (f" with a {len(body)}-byte body" if body else ""))
    try:
        request = synthesize(method, target, body)
    except ProtocolError as exc:
        say("decision", f"refused by the core, {exc.status} ({exc.code}): {exc.message}")
        return 1
    version = f"API {request.api_version}" if request.api_version else "no API version"
    say("endpoint", f"{request.endpoint} ({version})")

    gate = PolicyGate(policy)
    peer = None
    if uid is not None or gid is not None:
        peer = PeerCred(pid=0, uid=-1 if uid is None else uid, gid=-1 if gid is None else gid)
    names = tuple(tls_names)
    client = Client(
        front="explain", peer=peer, ip=ip, tls_cn=names[0] if names else None, tls_names=names
    )
    who = [f"{k}={v}" for k, v in (("uid", uid), ("gid", gid), ("ip", ip)) if v is not None]
    who += [f"tls_name={n}" for n in names]
    say("client", f"{' '.join(who) or '(anonymous)'} -> profile {gate.profile_for(client)}")

    if gate.wants_body(request, client):
        if len(body) > MAX_INSPECTED_BODY:
            say("decision", f"refused by the core, 413: body over {MAX_INSPECTED_BODY} bytes")
            return 1
        request = request.with_body(body)
    containers = gate.containers_to_inspect(request, client)
    volumes = gate.volumes_to_inspect(request, client, {})
    daemon = gate.wants_daemon_facts(request, client)
    # Named volumes are taken as new (created plain): the everyday case, and the one a
    # policy author is asking about. serve looks them up; the facts line says so.
    assumed = Facts(volumes=dict.fromkeys(volumes))
    evaluation = gate.evaluate(request, client, assumed)
    if body or request.endpoint not in gate.source.body_endpoints():
        shown = _print_findings(gate, request.with_body(body), assumed, say)
        if shown and evaluation.findings is None:
            say("", "(no rule on the way to the decision reads them)")
    else:
        say("findings", "unknown: the host-access checks read this endpoint's body (--body)")
    lookups = [f"inspect {', '.join(containers)}"] if containers else []
    if volumes:
        lookups.append(
            f"look up volume {', '.join(volumes)} (taken here as new; an existing one made "
            "with bind options is host access)"
        )
    if daemon:
        lookups.append("read its version and cgroup setup (GET /version, GET /info)")
    if lookups:
        say(
            "facts",
            f"none: explain does not ask the daemon; serve would {' and '.join(lookups)} "
            "first, and the decision may differ",
        )
    else:
        say("facts", "none needed")
    if daemon:
        say(
            "",
            "the daemon's defaults are unknown here, so the strict checks apply: CgroupnsMode "
            "'host' is host access, and MaskedPaths must keep every path a current daemon "
            "masks",
        )

    decision = evaluation.decision
    rule = evaluation.rule
    where = f" (line {rule.line})" if rule is not None and rule.line else ""
    if decision.allowed and decision.verdict != "would_deny":
        say("decision", f"allow by rule {decision.rule}{where}")
        return 0
    label = f"would deny (forwarded: mode {policy.mode})" if decision.allowed else "deny"
    say("decision", f"{label} {decision.status} by rule {decision.rule}{where} [{decision.code}]")
    say("message", f"sockspy: denied by rule {decision.rule}: {decision.reason}")
    return 0 if decision.allowed else 1


def synthesize(method: str, target: str, body: bytes) -> Request:
    """The Request the core would build for this line and body (CLI-like headers)."""
    lines = [f"{method} {target} HTTP/1.1", "Host: api.moby.localhost"]
    if body:
        lines.append("Content-Type: application/json")
    lines.append(f"Content-Length: {len(body)}")
    request = classify_request(parse_request_head(_head(lines)))
    if request.hijacks:  # the CLI asks for the upgrade; without it the core refuses
        lines[2:2] = ["Connection: Upgrade", "Upgrade: tcp"]
        request = classify_request(parse_request_head(_head(lines)))
    if method != method.upper():
        raise ProtocolError(400, f"method {method!r} is not in upper case", "non_canonical_method")
    return request


def _head(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _print_findings(
    gate: PolicyGate, request: Request, facts: Facts, say: Callable[[str, str], None]
) -> bool:
    """Print what the host-access checks find; whether there was anything to say."""
    try:
        found = gate.source.findings(request, gate.policy.host_access, {}, volumes=facts.volumes)
    except BodyDecodeError as exc:
        say("findings", f"the body cannot be decoded as dockerd would: {exc}")
        return True
    if not found:
        say("findings", "none")
        return False
    for number, finding in enumerate(found):
        say("" if number else "findings", f"{finding.code}: {finding.message}")
    return True
