"""What a gate says about one request: a `Decision`, and the `Finding`s it rests on."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Finding:
    """One way a request reaches the host (see `sockspy.policy.hostaccess`)."""

    code: str  # stable snake_case reason code, e.g. "privileged"
    message: str  # for people: "HostConfig.Privileged is true"


@dataclass(frozen=True, slots=True)
class Decision:
    """What the gate says about one request.

    `allowed` is what happens to the bytes. `verdict` is what the audit record says:
    "allow", "deny", or "would_deny" (a rule denied it, but the policy runs in `warn` or
    `audit` mode, so it was forwarded). `code` is a stable reason code for machines,
    `reason` the sentence for people. `findings` are the host-access findings the
    decision was reached with; None when no rule on the way read them. `audit` is how
    much of the exchange the record keeps ("none", "metadata", "request"); `record` asks
    for a transcript of the session the request opens ("output", "all"), and
    `record_required` refuses the session if that transcript cannot be written.
    """

    allowed: bool
    rule: str | None = None
    reason: str | None = None
    status: int = 403
    code: str | None = None
    profile: str | None = None
    verdict: str | None = None
    findings: tuple[Finding, ...] | None = None
    audit: str = "request"
    record: str | None = None
    record_required: bool = False

    @property
    def label(self) -> str:
        if self.verdict is not None:
            return self.verdict
        return "allow" if self.allowed else "deny"


ALLOW = Decision(allowed=True)


def deny(rule: str, reason: str, status: int = 403, code: str | None = None) -> Decision:
    return Decision(allowed=False, rule=rule, reason=reason, status=status, code=code)
