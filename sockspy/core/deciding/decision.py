"""What a gate says about one request: a `Decision`, and the `Finding`s it rests on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Finding:
    """One way a request reaches the host (see `sockspy.policy.hostaccess`)."""

    code: str  # stable snake_case reason code, e.g. "privileged"
    message: str  # for people: "HostConfig.Privileged is true"


@dataclass(frozen=True, slots=True)
class Mutation:
    """How an allowed request's bytes change before they are forwarded: the one
    documented exception to transparency (ownership, `sockspy.policy.ownership`).

    `query`: (parameter, new value) for the request target; `query_added`: (parameter,
    value) appended after the values a repeatable parameter already has (a commit's last
    ``changes``); `body_label`: (key, value) added to a create body's Labels;
    `path_name`: (name, full id): the container the path names by a name, pinned to the
    id it was checked as; `body_members`: members appended to a JSON body's top-level
    object (`sockspy.core.docker.bodymembers`: containers a body names, pinned the same
    way). `added` says what, for the audit record. An empty Mutation changes nothing.
    """

    query: tuple[str, str] | None = None
    body_label: tuple[str, str] | None = None
    added: str | None = None
    query_added: tuple[str, str] | None = None
    path_name: tuple[str, str] | None = None
    body_members: tuple[tuple[str, Any], ...] | None = None

    def __bool__(self) -> bool:
        changes = (self.query, self.body_label, self.query_added, self.path_name, self.body_members)
        return any(x is not None for x in changes)


@dataclass(frozen=True, slots=True)
class Decision:
    """What the gate says about one request.

    `allowed` is what happens to the bytes. `outcome` is what the audit record says:
    "allow", "deny", or "would_deny" (`would_deny`: a rule denied it, but the policy runs
    in `warn` or `audit` mode, so it was forwarded). `code` is a stable reason code for machines,
    `reason` the sentence for people. `findings` are the host-access findings the
    decision was reached with; None when no rule on the way read them. `audit_level` is
    how much of the exchange the record keeps ("none", "metadata", "request");
    `transcript` asks for a transcript of the session the request opens ("output",
    "all": the rule's `record` key), and `transcript_required` refuses the session if
    that transcript cannot be written (`record_required`).
    `answer` is the message a denial sends as it is (ownership answers the daemon's own
    404, so that another tenant's object looks missing); else it names the rule.
    `mutation` is how an allowed request's bytes change (see `Mutation`); `redact` what
    is removed from its answer (`sockspy.core.docker.redaction`).
    """

    allowed: bool
    rule: str | None = None
    reason: str | None = None
    status: int = 403
    code: str | None = None
    profile: str | None = None
    would_deny: bool = False
    findings: tuple[Finding, ...] | None = None
    audit_level: str = "request"
    transcript: str | None = None
    transcript_required: bool = False
    answer: str | None = None
    mutation: Mutation | None = None
    redact: tuple[str, ...] = ()  # removed from an inspect/list answer: "env", "mounts"

    @property
    def outcome(self) -> str:
        """What the audit record says: "allow", "deny" or "would_deny"."""
        if self.would_deny:
            return "would_deny"
        return "allow" if self.allowed else "deny"

    @property
    def message(self) -> str:
        """What a denial tells the client."""
        return self.answer or f"sockspy: denied by rule {self.rule}: {self.reason}"


ALLOW = Decision(allowed=True)


def deny(rule: str, reason: str, status: int = 403, code: str | None = None) -> Decision:
    return Decision(allowed=False, rule=rule, reason=reason, status=status, code=code)


def audit_unavailable(why: str) -> Decision:
    """`strict` durability: the audit log cannot take this request's record (503)."""
    return Decision(
        allowed=False,
        rule="audit",
        reason=f"the audit log cannot take this request's record{why}",
        status=503,
        code="audit_unavailable",
    )


def transcript_unavailable(decision: Decision, why: str) -> Decision:
    """A rule with `record_required`: its session cannot be recorded, so it is refused."""
    return Decision(
        allowed=False,
        rule=decision.rule,
        reason=f"this session must be recorded and its {why}",
        status=403,
        code="transcript_unavailable",
        profile=decision.profile,
    )
