"""`sockspy explain POLICY 'METHOD /path'`: one request decided by a policy, and why.

explain runs what `serve` runs: the request's bytes go through a `Conversation` (head
parser, framing, target and route classification, the body limit of the gate), and the
decision is the gate's own procedure (`Judgement`). Only the answers differ: explain
does not ask the daemon. Containers are not looked up (the checks then fail closed, as
`serve` does when it cannot ask), named volumes are taken as new (the everyday case, and
the one a policy author asks about), and the daemon's defaults are unknown (the strict
checks). It prints what `serve` would have asked, so that a decision that may differ
says so.

Exit codes: 0 (forwarded), 1 (denied or refused), 2 (unusable policy, request or body).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sockspy.cli.policies import load_named
from sockspy.core.deciding.client import Client, PeerCred
from sockspy.core.deciding.decision import Decision
from sockspy.core.deciding.gate import Gate, GateInForce
from sockspy.core.deciding.judgement import NO_FACTS, Answerer, Judgement, run_offline, settle
from sockspy.core.deciding.lookups import (
    InspectContainer,
    InspectExec,
    InspectImage,
    InspectNow,
    InspectVolume,
    Lookup,
    ReadDaemonFacts,
)
from sockspy.core.docker.gojson import BodyDecodeError
from sockspy.core.docker.request import Request, classify_request
from sockspy.core.proxy.conversation import Conversation
from sockspy.core.records import Record
from sockspy.core.wire.head import ProtocolError, parse_request_head
from sockspy.policy import hostaccess
from sockspy.policy.engine import PolicyGate
from sockspy.policy.load import PolicyError
from sockspy.policy.model import Policy

Say = Callable[[str, str], None]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    explain.add_argument(
        "--body",
        metavar="FILE",
        default=None,
        help="the request body (JSON; a build's context: a tar)",
    )
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
    explain.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return explain_main(
        args.policy, args.request, args.body, args.uid, args.gid, args.ip, sys.stdout,
        tls_names=args.tls_name,
    )  # fmt: skip


class OfflineAnswers:
    """explain's answers: no container or exec is looked up (the checks fail closed),
    named volumes are new and images have no WORKDIR (None), and the daemon's defaults
    are unknown (the strict checks)."""

    def answer(self, lookup: Lookup) -> Any:
        if isinstance(lookup, InspectVolume | InspectImage):
            return None
        return NO_FACTS.answer(lookup)


OFFLINE = OfflineAnswers()


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
    gate = PolicyGate(policy)
    client = explained_client(uid, gid, ip, tls_names)
    explained = explain_request(gate, client, request_bytes(method, target, body))
    request, decision = explained.request, explained.decision
    if request is None or decision is None:
        refusal = explained.refusal
        say(
            "decision",
            f"refused by the core, {refusal['status']} ({refusal['code']}): {refusal['reason']}",
        )
        return 1
    version = f"API {request.api_version}" if request.api_version else "no API version"
    say("endpoint", f"{request.endpoint} ({version})")
    who = [f"{k}={v}" for k, v in (("uid", uid), ("gid", gid), ("ip", ip)) if v is not None]
    who += [f"tls_name={n}" for n in tls_names]
    say("client", f"{' '.join(who) or '(anonymous)'} -> profile {gate.profile_for(client)}")

    _print_findings(gate, request, body, decision, say)
    _print_facts(explained.asked, say)
    return _print_decision(policy, decision, say)


def explained_client(
    uid: int | None, gid: int | None, ip: str | None, tls_names: Sequence[str]
) -> Client:
    peer = None
    if uid is not None or gid is not None:
        peer = PeerCred(pid=0, uid=-1 if uid is None else uid, gid=-1 if gid is None else gid)
    names = tuple(tls_names)
    return Client(
        front="explain", peer=peer, ip=ip, tls_cn=names[0] if names else None, tls_names=names
    )


def request_bytes(method: str, target: str, body: bytes) -> bytes:
    """The bytes a docker CLI would send for this line and body (its headers, and the
    upgrade it asks for on attach and exec start)."""
    lines = [f"{method} {target} HTTP/1.1", "Host: api.moby.localhost"]
    if body:
        lines.append("Content-Type: application/json")
    lines.append(f"Content-Length: {len(body)}")
    try:
        hijacks = classify_request(parse_request_head(_head(lines))).hijacks
    except ProtocolError:
        hijacks = False  # the conversation refuses it below, as it would in serve
    if hijacks:
        lines[2:2] = ["Connection: Upgrade", "Upgrade: tcp"]
    return _head(lines) + body


def _head(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass(frozen=True, slots=True)
class Explained:
    """One request as serve reads and decides it: the request and its decision, or the
    core's refusal (its exchange record); and the look-ups the decision asked for."""

    request: Request | None
    decision: Decision | None
    refusal: Record
    asked: tuple[Lookup, ...]


def explain_request(
    gate: Gate, client: Client, data: bytes, answers: Answerer = OFFLINE
) -> Explained:
    """The first request in `data` as serve's conversation hands it to the gate (its body
    read if the gate wants it, within the gate's limit), decided by the gate's judgement
    with `answers` for its look-ups."""
    conversation = Conversation(0, client, GateInForce(gate), clock=lambda: 0.0)
    conversation.client_data(data)
    request = conversation.pending_decision
    if request is None:
        refusal = next(r for r in conversation.records if r["event"] == "exchange")
        return Explained(None, None, refusal, ())
    judgement = Judgement(gate, request, client)
    decision = settle(judgement, answers)
    return Explained(request, decision, {}, tuple(judgement.asked))


def _print_findings(
    gate: PolicyGate, request: Request, body: bytes, decision: Decision, say: Say
) -> None:
    """What the host-access checks find: the decision's, or else what they would find."""
    if not body and request.endpoint in hostaccess.body_endpoints():
        say("findings", "unknown: the host-access checks read this endpoint's body (--body)")
        return
    found = decision.findings
    unread = found is None  # no rule on the way read them: find them for the reader
    if found is None:
        checked = request if request.body is not None else request.with_body(body)
        try:
            procedure = hostaccess.findings(checked, gate.policy.host_access)
            found = tuple(run_offline(procedure, OFFLINE))
        except BodyDecodeError as exc:
            say("findings", f"the body cannot be decoded as dockerd would: {exc}")
            return
    if not found:
        say("findings", "none")
    for number, finding in enumerate(found):
        say("" if number else "findings", f"{finding.code}: {finding.message}")
    if found and unread:
        say("", "(no rule on the way to the decision reads them)")


def _print_facts(asked: Sequence[Lookup], say: Say) -> None:
    """What serve would have asked the daemon before deciding (explain asks nothing)."""
    containers = [lookup.name for lookup in asked if isinstance(lookup, InspectContainer)]
    volumes = [lookup.name for lookup in asked if isinstance(lookup, InspectVolume)]
    images = [lookup.name for lookup in asked if isinstance(lookup, InspectImage)]
    execs = [lookup.id for lookup in asked if isinstance(lookup, InspectExec)]
    daemon = any(isinstance(lookup, ReadDaemonFacts) for lookup in asked)
    owned = [f"{lookup.kind} {lookup.name}" for lookup in asked if isinstance(lookup, InspectNow)]
    lookups = [f"inspect {', '.join(containers)}"] if containers else []
    if owned:
        lookups.append(
            f"inspect {', '.join(owned)} for its owner label (taken here as not looked up: "
            "ownership then refuses)"
        )
    if execs:
        lookups.append(f"inspect exec {', '.join(execs)}")
    if images:
        lookups.append(f"inspect image {', '.join(images)} (taken here as one without a WORKDIR)")
    if volumes:
        lookups.append(
            f"look up volume {', '.join(volumes)} (taken here as new; an existing one made "
            "with bind options is host access)"
        )
    if daemon:
        lookups.append("read its version and cgroup setup (GET /version, GET /info)")
    if not lookups:
        say("facts", "none needed")
        return
    say(
        "facts",
        f"none: explain does not ask the daemon; serve would {' and '.join(lookups)} "
        "first, and the decision may differ",
    )
    if daemon:
        say(
            "",
            "the daemon's defaults are unknown here, so the strict checks apply: CgroupnsMode "
            "'host' is host access, and MaskedPaths must keep every path a current daemon "
            "masks",
        )


def _print_decision(policy: Policy, decision: Decision, say: Say) -> int:
    line = next((r.line for r in policy.rules if r.name == decision.rule and r.line), None)
    where = f" (line {line})" if line else ""
    if decision.outcome == "allow":
        say("decision", f"allow by rule {decision.rule}{where}")
        return 0
    label = f"would deny (forwarded: mode {policy.mode})" if decision.allowed else "deny"
    say("decision", f"{label} {decision.status} by rule {decision.rule}{where} [{decision.code}]")
    say("message", decision.message)
    return 0 if decision.allowed else 1
