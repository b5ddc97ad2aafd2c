"""The policy as values: profiles (who is asking), rules (what they may do), options.

A `Policy` is what a TOML file (`sockspy.policy.load`), a preset or the Tecnativa
environment variables (`sockspy.policy.tecnativa`) turn into, and what the engine
(`sockspy.policy.engine`) compiles. Every field is validated by the loader; the values here
are plain data with the line each came from, so messages can point at the file.

Matching, in one paragraph: a client gets the first profile all of whose criteria match
(each criterion a list, any item of which may match), or the profile "default". A request
gets the first rule all of whose conditions match; no match is a denial by the rule
"default". An empty condition matches everything.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal

from sockspy.policy.hostaccess import HostAccessOptions
from sockspy.policy.ownership import OWNER_LABEL

Mode = Literal["enforce", "warn", "audit"]
AuditLevel = Literal["none", "metadata", "request"]
RecordMode = Literal["output", "all"]
Action = Literal["allow", "deny"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MODES: tuple[Mode, ...] = ("enforce", "warn", "audit")
# What the exchange record of a request a rule decides holds: nothing, the exchange, or the
# exchange with the summary of what a create asked for (the default).
AUDIT_LEVELS: tuple[AuditLevel, ...] = ("none", "metadata", "request")
# What a session's transcript keeps: the daemon's output, or stdin too.
RECORD_MODES: tuple[RecordMode, ...] = ("output", "all")
ACTIONS: tuple[Action, ...] = ("allow", "deny")

DEFAULT_PROFILE = "default"  # the profile of a client no profile matches
DEFAULT_RULE = "default"  # the rule that denies a request no rule matches
ANY_FINDING = "host_access"  # in if_findings/unless_findings: any finding at all

DEFAULT_MIN_API_VERSION = "1.24"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# A build context a rule reads (its Dockerfile) is held whole, in memory, until decided.
DEFAULT_MAX_BUILD_CONTEXT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Profile:
    """A kind of client. All non-empty criteria must match; within one, any item may.

    `tls_names` match the names of a verified TLS client certificate (its subject CN or
    any subject alternative name), exactly.
    """

    name: str
    uids: tuple[int, ...] = ()
    gids: tuple[int, ...] = ()
    executables: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()  # lower-case hex id prefixes
    cidrs: tuple[Network, ...] = ()
    tls_names: tuple[str, ...] = ()
    login_uids: tuple[int, ...] = ()  # the audit login uid: the person behind sudo
    units: tuple[str, ...] = ()  # globs over the peer's systemd unit ("gitlab-runner.service")
    container_names: tuple[str, ...] = ()  # globs over the peer's container name (unix or tcp)
    record: RecordMode | None = None  # transcripts of this client's sessions
    record_required: bool = False  # refuse a session whose transcript cannot be written
    # Its clients are tenants of this owner ("team-a", or a template: "uid-{uid}"); see
    # `sockspy.policy.ownership`.
    owner: str | None = None
    # Removed from the container inspect and list answers its clients get: "env", "mounts"
    # (`sockspy.core.docker.redaction`).
    redact: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True, slots=True)
class Rule:
    """One line of the policy: if every condition matches, `action` decides."""

    name: str
    action: Action
    message: str | None = None
    profiles: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    endpoints: tuple[str, ...] = ()  # fnmatch globs over endpoint names
    paths: tuple[str, ...] = ()  # fnmatch globs over the decoded path, no /vX.Y prefix
    query: tuple[tuple[str, str], ...] = ()  # parameter == value (Go's first value)
    query_true: tuple[str, ...] = ()  # parameter true by dockerd's BoolValue
    query_false: tuple[str, ...] = ()  # parameter false (or absent)
    if_findings: tuple[str, ...] = ()  # any of these host-access findings
    unless_findings: tuple[str, ...] = ()  # none of these
    audit: AuditLevel = "request"  # what the exchange record of a request it decides holds
    record: RecordMode | None = None  # transcripts of the sessions it allows
    record_required: bool = False
    redact: tuple[str, ...] = ()  # removed from the inspect/list answers it allows
    line: int = 0

    @property
    def reads_findings(self) -> bool:
        return bool(self.if_findings or self.unless_findings)

    @property
    def query_names(self) -> tuple[str, ...]:
        """The query parameters this rule reads (a repeat of any is refused)."""
        names = [name for name, _ in self.query]
        names += [n for n in (*self.query_true, *self.query_false) if n not in names]
        return tuple(names)


@dataclass(frozen=True, slots=True)
class Policy:
    mode: Mode = "enforce"
    min_api_version: str = DEFAULT_MIN_API_VERSION
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_build_context_bytes: int = DEFAULT_MAX_BUILD_CONTEXT_BYTES
    owner_label: str = OWNER_LABEL  # the label that says which tenant owns an object
    host_access: HostAccessOptions = field(default_factory=HostAccessOptions)
    profiles: tuple[Profile, ...] = ()
    rules: tuple[Rule, ...] = ()
    source: str = "<policy>"  # the file, preset or environment it came from
