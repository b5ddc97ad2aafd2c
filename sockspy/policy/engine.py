"""The policy engine: a `Gate` that decides each request by the first rule that matches.

Theory of operation
-------------------
A `Policy` is compiled once (`PolicyGate.__init__`): endpoint globs are expanded against
the route table into sets of names, path globs into one anchored regex per rule, and the
rules are indexed by endpoint, so a request only walks the rules that can name its
endpoint. Per request, `judge` (a decision procedure: it yields the daemon look-ups it
needs, `sockspy.core.deciding.lookups`):

1. picks the client's profile (first match; cached per connection identity);
2. applies the canonical refusals (`sockspy.policy.canonical`): API version below the
   floor, form bodies. These are 400s in every mode (a body over `max_body_bytes` never
   gets here: the conversation refuses it with 413 while it is read);
3. walks the candidate rules in order. Cheap conditions first (profile, method, path,
   query); a rule that reads a query parameter refuses a request that repeats it. Host
   access findings are computed at most once, and only when a rule that reads them is
   reached: only then are the daemon's containers, volumes or defaults looked up. A body
   Go would decode otherwise than Python is refused (``undecodable_body``);
4. the first rule whose conditions all hold decides; none is a denial by the rule
   "default".

In `warn` and `audit` mode a denial by a rule (the default included) is forwarded and
recorded as ``would_deny``; canonical refusals never are.

The core asks `wants_body` when the head is read: the engine wants a body only for an
endpoint whose body the host-access checks read (`hostaccess.body_endpoints()`), and only
if a rule that reads findings could apply to this client and method. The decision carries
the findings it was reached with (`Decision.findings`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase, translate
from typing import Protocol

from sockspy.core.deciding.client import Client
from sockspy.core.deciding.decision import Decision, Finding, Mutation, deny
from sockspy.core.deciding.lookups import Procedure
from sockspy.core.docker import redaction
from sockspy.core.docker.gojson import BodyDecodeError
from sockspy.core.docker.request import Request, classify_request, query_bool
from sockspy.core.docker.routes import split_version
from sockspy.core.wire.framing import NoBody
from sockspy.core.wire.head import parse_request_head
from sockspy.policy import canonical, hostaccess, ownership
from sockspy.policy.hostaccess import HostAccessOptions
from sockspy.policy.load import ENDPOINTS, endpoints_matching
from sockspy.policy.model import ANY_FINDING, DEFAULT_PROFILE, DEFAULT_RULE, Policy, Profile, Rule

UNROUTED = "unknown"  # Request.endpoint of a request dockerd has no handler for
_PROFILE_CACHE_SIZE = 4096


class FindingSource(Protocol):
    """What the engine needs from the host-access checks (the `hostaccess` module)."""

    def body_endpoints(self) -> frozenset[str]: ...

    def findings(
        self, request: Request, options: HostAccessOptions
    ) -> Procedure[list[Finding]]: ...


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A rule made cheap to test. None means "no condition"."""

    rule: Rule
    profiles: frozenset[str] | None
    methods: frozenset[str] | None
    endpoints: frozenset[str] | None
    path: re.Pattern[str] | None
    query: tuple[tuple[str, str], ...]
    query_true: tuple[str, ...]
    query_false: tuple[str, ...]
    reads: tuple[str, ...]  # query parameter names, checked for repeats
    if_findings: frozenset[str] | None
    unless_findings: frozenset[str] | None

    @classmethod
    def of(cls, rule: Rule) -> _Compiled:
        path = None
        if rule.paths:
            path = re.compile("|".join(f"(?:{translate(glob)})" for glob in rule.paths))
        return cls(
            rule=rule,
            profiles=frozenset(rule.profiles) or None,
            methods=_with_head(rule.methods),
            endpoints=endpoints_matching(rule.endpoints) if rule.endpoints else None,
            path=path,
            query=rule.query,
            query_true=rule.query_true,
            query_false=rule.query_false,
            reads=rule.query_names,
            if_findings=frozenset(rule.if_findings) or None,
            unless_findings=frozenset(rule.unless_findings) or None,
        )

    def applies_to(self, profile: str, method: str) -> bool:
        return (self.profiles is None or profile in self.profiles) and (
            self.methods is None or method in self.methods
        )


def _with_head(methods: tuple[str, ...]) -> frozenset[str] | None:
    """A rule's methods; HEAD goes with GET (a HEAD is a GET without the body: on /_ping,
    and a stat on archive, dockerd answers it from the same data)."""
    if not methods:
        return None
    return frozenset(methods) | ({"HEAD"} if "GET" in methods else set())


class PolicyGate:
    """The `Gate` of a `Policy` (see `sockspy.core.deciding.gate.Gate`)."""

    def __init__(self, policy: Policy, findings: FindingSource | None = None) -> None:
        self.policy = policy
        self.source: FindingSource = findings if findings is not None else hostaccess
        self.enforcing = policy.mode == "enforce"
        floor = canonical.parse_version(policy.min_api_version)
        if floor is None:
            raise ValueError(f"min_api_version {policy.min_api_version!r} is not a version")
        self.floor = floor
        self._body_endpoints = self.source.body_endpoints()
        self._records_sessions = any(r.record for r in policy.rules) or any(
            p.record for p in policy.profiles
        )
        compiled = [_Compiled.of(rule) for rule in policy.rules]
        # Rules that can match each endpoint, in policy order. A request dockerd does not
        # route only meets rules that name no endpoint.
        self._by_endpoint: dict[str, tuple[_Compiled, ...]] = {
            endpoint: tuple(c for c in compiled if c.endpoints is None or endpoint in c.endpoints)
            for endpoint in ENDPOINTS
        }
        self._by_endpoint[UNROUTED] = tuple(c for c in compiled if c.endpoints is None)
        self._profiles = policy.profiles
        self._profile_named = {p.name: p for p in policy.profiles}
        self._rule_named = {r.name: r for r in policy.rules}
        self._profile_cache: dict[Client, str] = {}
        self._findings_cache: dict[tuple[str, str, str], bool] = {}

    def body_limit(self, request: Request) -> int:
        if request.endpoint == "image.build":
            return self.policy.max_build_context_bytes
        return self.policy.max_body_bytes

    # -- who is asking ------------------------------------------------------------------------

    def profile_for(self, client: Client) -> str:
        cached = self._profile_cache.get(client)
        if cached is not None:
            return cached
        name = next((p.name for p in self._profiles if _profile_matches(p, client)), None)
        name = name or DEFAULT_PROFILE
        if len(self._profile_cache) >= _PROFILE_CACHE_SIZE:
            self._profile_cache.clear()
        self._profile_cache[client] = name
        return name

    # -- the Gate protocol ----------------------------------------------------------------------

    def wants_body(self, request: Request, client: Client) -> bool:
        if ownership.wants_body(request) and self._owner_template(client) is not None:
            return True
        if request.endpoint == "exec.start" and self._records_sessions:
            return True  # its body's Tty is how the daemon frames what a transcript decodes
        return request.endpoint in self._body_endpoints and self._reads_findings(request, client)

    def _owner_template(self, client: Client) -> str | None:
        profile = self._profile_named.get(self.profile_for(client))
        return profile.owner if profile is not None else None

    # -- evaluation ---------------------------------------------------------------------------

    def _reads_findings(self, request: Request, client: Client) -> bool:
        """Whether a rule that reads findings could apply to this request."""
        profile = self.profile_for(client)
        key = (profile, request.method, request.endpoint)
        known = self._findings_cache.get(key)
        if known is None:
            candidates = self._by_endpoint.get(request.endpoint, self._by_endpoint[UNROUTED])
            known = any(
                c.rule.reads_findings and c.applies_to(profile, request.method) for c in candidates
            )
            # Routed requests have a known method: the cache stays as small as the policy.
            # Any method string can reach an unrouted path; those are not cached.
            if request.route is not None:
                self._findings_cache[key] = known
        return known

    def judge(self, request: Request, client: Client) -> Procedure[Decision]:
        profile = self.profile_for(client)
        refusal = canonical.version_refusal(request, self.floor) or canonical.form_body_refusal(
            request
        )
        if refusal is not None:
            return canonical.refuse(*refusal, profile=profile)
        template = self._owner_template(client)
        pin: tuple[str, str] | None = None
        if template is not None and self.enforcing:  # a tenant's short hex name: pinned
            pinned = yield from ownership.pin_path(request, self._tenant(client, profile))
            if isinstance(pinned, Decision):
                return replace(pinned, profile=profile)
            if pinned is not None:
                pin, request = pinned, request.with_param("name", pinned[1])
        decision = yield from self._walk(request, profile)
        if decision.outcome == "allow":
            later = self._later_step_denied(request, profile)
            if later is not None:
                return later
        if decision.allowed and template is not None:
            decision = yield from self._owned(request, client, profile, template, decision)
            tenant = self._tenant(client, profile)
            if decision.allowed and (yield from ownership.hides_members(request, tenant)):
                decision = replace(decision, redact=(redaction.MEMBERS,))
            if decision.allowed and tenant is not None and request.endpoint == "image.list":
                only = redaction.foreign_images(tenant.label, tenant.owner)
                decision = replace(decision, redact=(*decision.redact, only))
        if pin is not None and decision.allowed:
            decision = _pinned(decision, pin)
        return self._redacted(decision, request, profile)

    def _tenant(self, client: Client, profile: str) -> ownership.Tenant | None:
        template = self._owner_template(client)
        owner = ownership.owner_of(template, client, profile) if template else None
        return ownership.Tenant(owner, self.policy.owner_label) if owner is not None else None

    def _redacted(self, decision: Decision, request: Request, profile: str) -> Decision:
        """An allowed answer loses what the client's profile or the deciding rule redacts
        (either one asking is enough); an endpoint whose answers cannot be redacted is
        refused to such a client (`redaction.redactable`)."""
        if not decision.allowed:
            return decision
        who = self._profile_named.get(profile)
        rule = self._rule_named.get(decision.rule or "")
        wanted = {*(who.redact if who else ()), *(rule.redact if rule else ())}
        if not wanted:
            return decision
        kinds = (*decision.redact, *(r for r in redaction.REDACTIONS if r in wanted))
        endpoint = request.endpoint
        if not redaction.redactable(endpoint):
            reason = (
                f"{endpoint} answers cannot be redacted, and this client's are "
                f"(redact: {', '.join(kinds)})"
            )
            return deny(decision.rule or "redact", reason, code="not_redactable")
        if endpoint not in redaction.ENDPOINTS:
            return decision  # its answers hold nothing to redact
        return replace(decision, redact=kinds)

    def _owned(
        self, request: Request, client: Client, profile: str, template: str, decision: Decision
    ) -> Procedure[Decision]:
        """An allowed request of a tenant: refused by ownership, or allowed with the
        labels and filters ownership adds (`sockspy.policy.ownership`)."""
        outcome = yield from ownership.judge(request, self._tenant(client, profile), profile)
        if isinstance(outcome, Mutation):
            return replace(decision, mutation=outcome) if outcome else decision
        if self.enforcing:
            return replace(outcome, profile=profile, findings=decision.findings)
        return replace(
            decision, reason=outcome.reason, code=outcome.code, rule=outcome.rule,
            status=outcome.status, would_deny=True,
        )  # fmt: skip

    def _walk(self, request: Request, profile: str) -> Procedure[Decision]:
        """The first rule that matches decides; findings are read when a rule needs them."""
        found: tuple[Finding, ...] | None = None
        for rule in self._candidates(request):
            plain = self._plain_match(rule, request, profile)
            if isinstance(plain, Decision):
                return plain
            if not plain:
                continue
            matched: list[Finding] = []
            if rule.if_findings is not None or rule.unless_findings is not None:
                if found is None:
                    try:
                        found = tuple((yield from self._findings(request)))
                    except BodyDecodeError as exc:
                        return canonical.refuse("undecodable_body", str(exc), profile)
                if rule.unless_findings is not None and _select(found, rule.unless_findings):
                    continue
                if rule.if_findings is not None:
                    matched = _select(found, rule.if_findings)
                    if not matched:
                        continue
            return self._decision(rule.rule, request, profile, matched, found)
        return self._default(request, profile, found)

    def _candidates(self, request: Request) -> tuple[_Compiled, ...]:
        return self._by_endpoint.get(request.endpoint, self._by_endpoint[UNROUTED])

    def _plain_match(self, rule: _Compiled, request: Request, profile: str) -> bool | Decision:
        """Whether `rule`'s conditions other than findings hold; a Decision when the
        request must be refused (a parameter the rule reads is repeated)."""
        if rule.profiles is not None and profile not in rule.profiles:
            return False
        if rule.methods is not None and request.method not in rule.methods:
            return False
        if rule.path is not None:
            route_path = split_version(request.target.decoded_path)[1]
            if rule.path.fullmatch(route_path) is None:
                return False
        if rule.reads:
            repeated = canonical.repeated_parameter(request, rule.reads)
            if repeated is not None:
                reason = f"query parameter {repeated!r} is repeated ({rule.rule.name} reads it)"
                return canonical.refuse("repeated_query_parameter", reason, profile)
            if not _query_matches(rule, request):
                return False
        return True

    # -- steps the docker CLI cannot show a denial of ------------------------------------------

    def _later_step_denied(self, request: Request, profile: str) -> Decision | None:
        """A denial, for an allowed request, of the step the client takes next, where that
        step's denial would not reach the user.

        The docker CLI prints no body for a refused upgrade: a denied exec start reads
        "unable to upgrade to tcp, received 403". An exec is made only to be started, so
        an exec create whose start this profile may not make is denied here, with the
        start's rule and reason, where the CLI prints them. Only a start that the rules
        deny whatever the daemon says counts (a rule that reads findings on the way leaves
        it to the start). A container create is not judged by its attach: its Attach*
        fields are set by `docker create` too, and by tools that recreate a container
        from its inspect (watchtower), which never attach.
        """
        step = _later_step(request)
        if step is None:
            return None
        later = self._plain_decision(step, profile)
        if later is None or later.outcome == "allow":  # would_deny in warn mode counts
            return None
        reason = f"{later.reason} (at {request.endpoint}: {step.endpoint} would be denied)"
        rule, code = later.rule or DEFAULT_RULE, later.code or "rule_deny"
        return self._deny(rule, reason, code, profile, None)

    def _plain_decision(self, request: Request, profile: str) -> Decision | None:
        """The decision for `request` if no rule on the way reads findings; else None."""
        for rule in self._candidates(request):
            plain = self._plain_match(rule, request, profile)
            if plain is not True:
                if isinstance(plain, Decision):
                    return None
                continue
            if rule.if_findings is not None or rule.unless_findings is not None:
                return None
            return self._decision(rule.rule, request, profile, [], None)
        return self._default(request, profile, None)

    def _findings(self, request: Request) -> Procedure[list[Finding]]:
        if (
            request.body is None
            and request.endpoint in self._body_endpoints
            and not isinstance(request.head.framing, NoBody)
        ):
            raise BodyDecodeError("the request body was not buffered for inspection")
        return self.source.findings(request, self.policy.host_access)

    def _decision(
        self,
        rule: Rule,
        request: Request,
        profile: str,
        matched: Sequence[Finding],
        found: tuple[Finding, ...] | None,
    ) -> Decision:
        decision = self._rule_decision(rule, request, profile, matched, found)
        # What the record keeps is the rule's to say; a transcript, the rule's or the
        # client profile's (either one asking is enough).
        who = self._profile_named.get(profile)
        record = rule.record or (who.record if who is not None else None)
        if rule.audit == "request" and record is None:
            return decision
        required = rule.record_required or (who is not None and who.record_required)
        return replace(
            decision, audit_level=rule.audit, transcript=record, transcript_required=required
        )

    def _rule_decision(
        self,
        rule: Rule,
        request: Request,
        profile: str,
        matched: Sequence[Finding],
        found: tuple[Finding, ...] | None,
    ) -> Decision:
        if rule.action == "allow":
            return Decision(True, rule.name, profile=profile, findings=found)
        details = "; ".join(f.message for f in matched)
        if rule.message:
            reason = f"{rule.message} ({details})" if details else rule.message
        elif details:
            reason = details
        else:
            reason = f"{_describe(request)} is denied"
            if rule.profiles:
                reason += f" for profile {profile}"
        code = "host_access" if matched else "rule_deny"
        return self._deny(rule.name, reason, code, profile, found)

    def _default(
        self, request: Request, profile: str, found: tuple[Finding, ...] | None
    ) -> Decision:
        reason = f"no rule allows {_describe(request)} for profile {profile}"
        return self._deny(DEFAULT_RULE, reason, "default_deny", profile, found)

    def _deny(
        self, rule: str, reason: str, code: str, profile: str, found: tuple[Finding, ...] | None
    ) -> Decision:
        if self.enforcing:
            return Decision(False, rule, reason, 403, code, profile, findings=found)
        return Decision(True, rule, reason, 403, code, profile, would_deny=True, findings=found)


def _describe(request: Request) -> str:
    if request.route is not None:
        return request.endpoint
    path = split_version(request.target.decoded_path)[1]
    return f"{request.method} {path} (not an API endpoint)"


def _select(found: tuple[Finding, ...], codes: frozenset[str]) -> list[Finding]:
    if ANY_FINDING in codes:
        return list(found)
    return [f for f in found if f.code in codes]


def _query_matches(rule: _Compiled, request: Request) -> bool:
    for name, expected in rule.query:
        if request.query_get(name) != expected:
            return False
    for name in rule.query_true:
        if not query_bool(request.query_get(name)):
            return False
    return all(not query_bool(request.query_get(name)) for name in rule.query_false)


def _profile_matches(profile: Profile, client: Client) -> bool:
    peer = client.peer
    if profile.uids and (peer is None or peer.uid not in profile.uids):
        return False
    if profile.gids and (peer is None or peer.gid not in profile.gids):
        return False
    if profile.executables and client.exe not in profile.executables:
        return False
    if profile.containers:
        cid = client.container_id
        if cid is None or not cid.lower().startswith(profile.containers):
            return False
    if profile.cidrs and not _ip_in(client.ip, profile):
        return False
    process = client.process
    if profile.login_uids and (process is None or process.login_uid not in profile.login_uids):
        return False
    if profile.units and (
        process is None
        or process.unit is None
        or not any(fnmatchcase(process.unit, glob) for glob in profile.units)
    ):
        return False
    if profile.container_names and (
        client.container_name is None
        or not any(fnmatchcase(client.container_name, glob) for glob in profile.container_names)
    ):
        return False
    # tls_names: any name of the verified client certificate (its CN or a SAN). A client
    # without one (unix fronts, plain tcp) never matches a profile that lists names.
    return not profile.tls_names or any(n in profile.tls_names for n in client.tls_names)


def _ip_in(ip: str | None, profile: Profile) -> bool:
    if ip is None:
        return False
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        candidates.append(address.ipv4_mapped)
    return any(a in network for a in candidates for network in profile.cidrs)


def _later_step(request: Request) -> Request | None:
    """The hijacking step a client takes after `request`, or None."""
    if request.endpoint != "exec.create":
        return None
    target = "/exec/sockspy-next-step/start"
    version = f"/v{request.api_version}" if request.api_version else ""
    head = f"POST {version}{target} HTTP/1.1\r\nHost: sockspy\r\n"
    head += "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    return classify_request(parse_request_head(head.encode("latin-1")))


def _pinned(decision: Decision, pin: tuple[str, str]) -> Decision:
    """`decision`, its request forwarded with the container of its path named by the
    full id ownership resolved (`ownership.pin_path`)."""
    mutation = decision.mutation or Mutation()
    pinned = f"container {pin[0]!r} pinned to {pin[1][:12]}"
    added = f"{mutation.added}; {pinned}" if mutation.added else pinned
    return replace(decision, mutation=replace(mutation, path_name=pin, added=added))
