"""Reading a policy file: TOML (stdlib `tomllib`) into a validated `Policy`.

Every mistake is reported with the file and a line, all of them at once (a `PolicyError`
holds a list of `Problem`). tomllib reports lines for syntax errors only, so the lines of
tables and keys are found by scanning the text (`_Lines`): the n-th ``[[rules]]`` header is
the n-th rule. That is exact for the usual layout and falls back to the nearest enclosing
table for the rest (inline tables, arrays of inline tables).

What is checked: unknown keys anywhere, types, modes and actions, API versions, CIDRs,
endpoint globs (each must name at least one endpoint of `sockspy.core.docker.routes.ROUTES`),
finding codes (against `sockspy.policy.hostaccess.FINDING_CODES`), profile names a rule
refers to, and duplicate names.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, TypeVar, cast

from sockspy.core.docker.redaction import REDACTIONS
from sockspy.core.docker.routes import ROUTES
from sockspy.policy.canonical import parse_version
from sockspy.policy.hostaccess import FINDING_CODES, HostAccessOptions
from sockspy.policy.model import (
    ACTIONS,
    ANY_FINDING,
    AUDIT_LEVELS,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_BUILD_CONTEXT_BYTES,
    DEFAULT_MIN_API_VERSION,
    DEFAULT_PROFILE,
    DEFAULT_RULE,
    MODES,
    RECORD_MODES,
    Action,
    AuditLevel,
    Mode,
    Policy,
    Profile,
    RecordMode,
    Rule,
)
from sockspy.policy.ownership import OWNER_LABEL, template_problem

ENDPOINTS: tuple[str, ...] = tuple(sorted({route.endpoint for route in ROUTES}))
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})
MAX_BODY_LIMIT = 64 * 1024 * 1024
MAX_BUILD_CONTEXT_LIMIT = 4 * 1024 * 1024 * 1024

TOP_KEYS = (
    "mode", "min_api_version", "max_body_bytes", "max_build_context_bytes", "owner_label",
    "host_access", "profiles", "rules",
)  # fmt: skip
PROFILE_KEYS = (
    "name", "uids", "gids", "executables", "containers", "cidrs", "tls_names", "login_uids",
    "units", "container_names", "record", "record_required", "owner", "redact",
)  # fmt: skip
RULE_KEYS = (
    "name",
    "action",
    "message",
    "profiles",
    "methods",
    "endpoints",
    "paths",
    "query",
    "query_true",
    "query_false",
    "if_findings",
    "unless_findings",
    "audit",
    "record",
    "record_required",
    "redact",
)
HOST_ACCESS_KEYS = tuple(f.name for f in dataclasses.fields(HostAccessOptions))

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
_RESERVED_RULES = frozenset({DEFAULT_RULE, "canonical", "internal"})
_HEX = re.compile(r"[0-9a-f]{1,64}")
# A label key a filter can name: "label=<key>=<value>" splits at the first "=".
_LABEL_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
_VERSIONED_PATH = re.compile(r"/v[0-9.]+/")
_TOML_LINE = re.compile(r"\(at line (\d+), column \d+\)$")

T = TypeVar("T")
Path_ = tuple[str | int, ...]  # where a value sits: ("rules", 2, "endpoints")


@dataclass(frozen=True, slots=True)
class Problem:
    source: str
    line: int
    message: str

    def __str__(self) -> str:
        if not self.line:  # no line to point at: an environment variable, a preset name
            return f"{self.source}: {self.message}"
        return f"{self.source}:{self.line}: {self.message}"


class PolicyError(Exception):
    """A policy that cannot be used; `problems` says every reason, with lines."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file. Raises PolicyError (unreadable files included)."""
    source = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise PolicyError([Problem(source, 0, f"cannot read the policy: {exc.strerror}")]) from None
    except UnicodeDecodeError as exc:
        raise PolicyError([Problem(source, 0, f"the policy is not UTF-8: {exc}")]) from None
    return parse_policy(text, source)


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Parse and validate policy text. Raises PolicyError listing every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_LINE.search(message)
        line = int(match.group(1)) if match else text.count("\n") + 1
        message = _TOML_LINE.sub("", message).strip()
        raise PolicyError([Problem(source, line, f"TOML syntax: {message}")]) from None
    checker = _Checker(source, _Lines(text))
    policy = checker.policy(data)
    if checker.problems:
        raise PolicyError(checker.problems)
    return policy


# -- Where things are -----------------------------------------------------------------------


class _Lines:
    """Line numbers of tables and keys, found by scanning the TOML text.

    Keys are recorded per table: ``("rules", 0)`` is the first ``[[rules]]``,
    ``("rules", 0, "query")`` a ``[rules.query]`` table under it, ``()`` the top level.
    """

    _ARRAY_HEADER = re.compile(r"\[\[\s*([^\]]+?)\s*\]\]")
    _HEADER = re.compile(r"\[\s*([^\]]+?)\s*\]")
    _KEY = re.compile(r"""(?:([A-Za-z0-9_-]+)|"([^"]*)"|'([^']*)')\s*=""")

    def __init__(self, text: str) -> None:
        self.lines: dict[Path_, int] = {}
        counts: dict[str, int] = {}
        table: Path_ = ()
        in_string: str | None = None
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if in_string is not None:  # inside a multi-line string: skip to its end
                if line.count(in_string) % 2 == 1:
                    in_string = None
                continue
            if match := self._ARRAY_HEADER.match(line):
                name = self._dotted(match.group(1))
                if len(name) == 1:
                    index = counts.get(name[0], 0)
                    counts[name[0]] = index + 1
                    table = (name[0], index)
                else:  # [[rules.x]]: not part of the schema, but keep its place
                    table = self._under(name, counts)
                self.lines.setdefault(table, number)
            elif match := self._HEADER.match(line):
                table = self._under(self._dotted(match.group(1)), counts)
                self.lines.setdefault(table, number)
            elif match := self._KEY.match(line):
                key = next(g for g in match.groups() if g is not None)
                self.lines.setdefault((*table, key), number)
            for quote in ('"""', "'''"):
                if line.count(quote) % 2 == 1:
                    in_string = quote
                    break

    @staticmethod
    def _dotted(name: str) -> tuple[str, ...]:
        return tuple(part.strip().strip("\"'") for part in name.split("."))

    @staticmethod
    def _under(name: tuple[str, ...], counts: Mapping[str, int]) -> Path_:
        """A sub-table's place: under the latest element of its parent array, if any."""
        head, *rest = name
        if head in counts and rest:
            return (head, counts[head] - 1, *rest)
        return name

    def line(self, where: Path_) -> int:
        """The line of `where`, or of the nearest enclosing table or key that was found."""
        path = where
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return 1


# -- Checking ---------------------------------------------------------------------------------


class _Checker:
    """Reads one parsed TOML document into a `Policy`, collecting every problem with its
    line (`_Lines`) instead of stopping at the first, so `sockspy check` lists them all."""

    def __init__(self, source: str, lines: _Lines) -> None:
        self.source = source
        self.lines = lines
        self.problems: list[Problem] = []

    def error(self, where: Path_, message: str) -> None:
        self.problems.append(Problem(self.source, self.lines.line(where), message))

    def _unknown_keys(self, table: Mapping[str, Any], known: tuple[str, ...], where: Path_) -> None:
        what = f"[[{where[0]}]]" if len(where) == 2 else (f"[{where[0]}]" if where else "top level")
        for key in table:
            if key not in known:
                self.error(
                    (*where, key),
                    f"unknown key {key!r} in {what} (known: {', '.join(known)})",
                )

    # -- typed getters: report, then fall back to a default ---------------------------------

    def _get(
        self,
        table: Mapping[str, Any],
        key: str,
        where: Path_,
        kind: type[T],
        default: T,
        what: str,
    ) -> T:
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.error((*where, key), f"{key} must be {what}, not {_toml_type(value)}")
            return default
        return value

    def _list(
        self,
        table: Mapping[str, Any],
        key: str,
        where: Path_,
        kind: type[T],
        what: str,
        check: Callable[[T], str | None] | None = None,
    ) -> tuple[T, ...]:
        """A list of `kind`; each item that `check` objects to is reported and dropped."""
        if key not in table:
            return ()
        value = table[key]
        if not isinstance(value, list):
            self.error((*where, key), f"{key} must be a list of {what}, not {_toml_type(value)}")
            return ()
        items: list[T] = []
        for item in value:
            if not isinstance(item, kind) or (kind is int and isinstance(item, bool)):
                self.error((*where, key), f"{key}: {item!r} is not {_article(what)}")
                continue
            problem = check(item) if check else None
            if problem is not None:
                self.error((*where, key), f"{key}: {problem}")
                continue
            if item not in items:
                items.append(item)
        return tuple(items)

    # -- the policy --------------------------------------------------------------------------

    def policy(self, data: Mapping[str, Any]) -> Policy:
        self._unknown_keys(data, TOP_KEYS, ())
        mode = self._get(data, "mode", (), str, "enforce", "a string")
        if mode not in MODES:
            self.error(("mode",), f"mode {mode!r} is not one of {', '.join(MODES)}")
            mode = "enforce"
        min_version = data.get("min_api_version", DEFAULT_MIN_API_VERSION)
        if not isinstance(min_version, str):
            self.error(
                ("min_api_version",),
                f'min_api_version must be a string like "1.24" (a TOML number would turn '
                f"1.40 into 1.4), not {_toml_type(min_version)}",
            )
            min_version = DEFAULT_MIN_API_VERSION
        elif parse_version(min_version) is None:
            self.error(("min_api_version",), f"min_api_version {min_version!r} is not a version")
            min_version = DEFAULT_MIN_API_VERSION
        max_body = self._get(
            data, "max_body_bytes", (), int, DEFAULT_MAX_BODY_BYTES, "an integer (bytes)"
        )
        if not 1 <= max_body <= MAX_BODY_LIMIT:
            self.error(("max_body_bytes",), f"max_body_bytes must be 1 to {MAX_BODY_LIMIT}")
            max_body = DEFAULT_MAX_BODY_BYTES
        max_context = self._get(
            data, "max_build_context_bytes", (), int, DEFAULT_MAX_BUILD_CONTEXT_BYTES,
            "an integer (bytes)",
        )  # fmt: skip
        if not 1 <= max_context <= MAX_BUILD_CONTEXT_LIMIT:
            limit = MAX_BUILD_CONTEXT_LIMIT
            self.error(
                ("max_build_context_bytes",), f"max_build_context_bytes must be 1 to {limit}"
            )
            max_context = DEFAULT_MAX_BUILD_CONTEXT_BYTES
        owner_label = self._get(data, "owner_label", (), str, OWNER_LABEL, "a string")
        if not _LABEL_KEY.fullmatch(owner_label):
            self.error(("owner_label",), f"owner_label {owner_label!r} is not a label key")
            owner_label = OWNER_LABEL
        host_access = self.host_access(data.get("host_access", {}))
        profiles = self.profiles(data.get("profiles", []))
        rules = self.rules(data.get("rules", []), {p.name for p in profiles})
        return Policy(
            mode=cast(Mode, mode),
            min_api_version=min_version,
            max_body_bytes=max_body,
            max_build_context_bytes=max_context,
            owner_label=owner_label,
            host_access=host_access,
            profiles=profiles,
            rules=rules,
            source=self.source,
        )

    def host_access(self, table: object) -> HostAccessOptions:
        where: Path_ = ("host_access",)
        if not isinstance(table, dict):
            self.error(where, f"host_access must be a table, not {_toml_type(table)}")
            return HostAccessOptions()
        self._unknown_keys(table, HOST_ACCESS_KEYS, where)
        values: dict[str, tuple[str, ...]] = {}
        for key in HOST_ACCESS_KEYS:
            if key in table and key != "min_oom_score_adj":
                check = _absolute_path if key in ("allowed_bind_paths", "allowed_devices") else None
                values[key] = self._list(table, key, where, str, "strings", check)
        score = self._get(table, "min_oom_score_adj", where, int, 0, "an integer")
        if not -1000 <= score <= 1000:
            self.error((*where, "min_oom_score_adj"), "min_oom_score_adj must be -1000 to 1000")
            score = 0
        return HostAccessOptions(**values, min_oom_score_adj=score)

    def _tables(self, value: object, key: str) -> list[tuple[Path_, dict[str, Any]]]:
        if not isinstance(value, list):
            self.error((key,), f"{key} must be an array of tables ([[{key}]])")
            return []
        tables = []
        for index, item in enumerate(value):
            where: Path_ = (key, index)
            if not isinstance(item, dict):
                self.error(where, f"{key} entry {index + 1} must be a table")
                continue
            tables.append((where, item))
        return tables

    def _name(self, table: Mapping[str, Any], where: Path_, kind: str, taken: set[str]) -> str:
        fallback = f"{kind}-{int(where[1]) + 1}"
        if "name" not in table:
            self.error(where, f"this {kind} has no name")
            return fallback
        name = self._get(table, "name", where, str, fallback, "a string")
        if not _NAME.fullmatch(name):
            self.error((*where, "name"), f"{kind} name {name!r}: use letters, digits, _ . : -")
        elif name in taken:
            self.error((*where, "name"), f"{kind} name {name!r} is used twice")
        taken.add(name)
        return name

    def profiles(self, value: object) -> tuple[Profile, ...]:
        profiles: list[Profile] = []
        taken: set[str] = set()
        for where, table in self._tables(value, "profiles"):
            self._unknown_keys(table, PROFILE_KEYS, where)
            name = self._name(table, where, "profile", taken)
            if name == DEFAULT_PROFILE:
                self.error(
                    (*where, "name"),
                    f"the profile name {DEFAULT_PROFILE!r} is reserved for clients no profile "
                    "matches",
                )
            cidrs = self._list(table, "cidrs", where, str, "CIDR strings", _cidr_problem)
            profile = Profile(
                name=name,
                uids=self._list(table, "uids", where, int, "integers", _id_problem),
                gids=self._list(table, "gids", where, int, "integers", _id_problem),
                executables=self._list(table, "executables", where, str, "strings", _absolute_path),
                containers=self._list(table, "containers", where, str, "strings", _hex_problem),
                cidrs=tuple(ipaddress.ip_network(c) for c in cidrs),
                tls_names=self._list(table, "tls_names", where, str, "strings"),
                login_uids=self._list(table, "login_uids", where, int, "integers", _id_problem),
                units=self._list(table, "units", where, str, "strings"),
                container_names=self._list(table, "container_names", where, str, "strings"),
                record=self._record_mode(table, where),
                record_required=self._get(
                    table, "record_required", where, bool, False, "true or false"
                ),
                owner=self._owner(table, where),
                redact=self._list(table, "redact", where, str, "strings", _redaction_problem),
                line=self.lines.line(where),
            )
            criteria = (
                profile.uids, profile.gids, profile.executables, profile.containers,
                profile.cidrs, profile.tls_names, profile.login_uids, profile.units,
                profile.container_names,
            )  # fmt: skip
            if not any(criteria):
                self.error(
                    where,
                    f"profile {name!r} has no criteria (uids, gids, executables, containers, "
                    "cidrs): it would match every client",
                )
            profiles.append(profile)
        return tuple(profiles)

    def _owner(self, table: Mapping[str, Any], where: Path_) -> str | None:
        if "owner" not in table:
            return None
        template = self._get(table, "owner", where, str, "", "a string")
        problem = template_problem(template)
        if problem is not None:
            self.error((*where, "owner"), f"owner {template!r}: {problem}")
            return None
        return template

    def rules(self, value: object, profile_names: set[str]) -> tuple[Rule, ...]:
        rules: list[Rule] = []
        taken: set[str] = set()
        known_profiles = profile_names | {DEFAULT_PROFILE}

        def profile_problem(name: str) -> str | None:
            if name in known_profiles:
                return None
            return f"no profile is named {name!r} (profiles: {', '.join(sorted(known_profiles))})"

        for where, table in self._tables(value, "rules"):
            self._unknown_keys(table, RULE_KEYS, where)
            name = self._name(table, where, "rule", taken)
            if name in _RESERVED_RULES:
                self.error((*where, "name"), f"the rule name {name!r} is reserved")
            if "action" not in table:
                self.error(where, f"rule {name!r} has no action (allow or deny)")
            action = self._get(table, "action", where, str, "deny", "a string")
            if action not in ACTIONS:
                self.error((*where, "action"), f"action {action!r} is not allow or deny")
                action = "deny"
            message = self._get(table, "message", where, str, "", "a string") or None
            rules.append(
                Rule(
                    name=name,
                    action=cast(Action, action),
                    message=message,
                    profiles=self._list(table, "profiles", where, str, "strings", profile_problem),
                    methods=self._list(table, "methods", where, str, "strings", _method_problem),
                    endpoints=self._list(table, "endpoints", where, str, "strings", _glob_problem),
                    paths=self._list(table, "paths", where, str, "strings", _path_problem),
                    query=self.query(table, where),
                    query_true=self._list(table, "query_true", where, str, "strings"),
                    query_false=self._list(table, "query_false", where, str, "strings"),
                    if_findings=self._list(
                        table, "if_findings", where, str, "strings", _finding_problem
                    ),
                    unless_findings=self._list(
                        table, "unless_findings", where, str, "strings", _finding_problem
                    ),
                    audit=self._audit_level(table, where),
                    record=self._record_mode(table, where),
                    record_required=self._get(
                        table, "record_required", where, bool, False, "true or false"
                    ),
                    redact=self._list(table, "redact", where, str, "strings", _redaction_problem),
                    line=self.lines.line(where),
                )
            )
        return tuple(rules)

    def _audit_level(self, table: Mapping[str, Any], where: Path_) -> AuditLevel:
        level = self._get(table, "audit", where, str, "request", "a string")
        if level not in AUDIT_LEVELS:
            self.error(
                (*where, "audit"), f"audit {level!r} is not one of {', '.join(AUDIT_LEVELS)}"
            )
            return "request"
        return level

    def _record_mode(self, table: Mapping[str, Any], where: Path_) -> RecordMode | None:
        if "record" not in table:
            return None
        mode = self._get(table, "record", where, str, "", "a string")
        if mode not in RECORD_MODES:
            self.error(
                (*where, "record"), f"record {mode!r} is not one of {', '.join(RECORD_MODES)}"
            )
            return None
        return mode

    def query(self, table: Mapping[str, Any], where: Path_) -> tuple[tuple[str, str], ...]:
        if "query" not in table:
            return ()
        value = table["query"]
        here = (*where, "query")
        if not isinstance(value, dict):
            self.error(here, f'query must be a table like {{ all = "1" }}, not {_toml_type(value)}')
            return ()
        pairs = []
        for key, expected in value.items():
            if not isinstance(expected, str):
                self.error(
                    (*here, key),
                    f"query.{key} must be a string (dockerd compares text: write "
                    f'"{_toml_text(expected)}"), not {_toml_type(expected)}',
                )
                continue
            pairs.append((key, expected))
        return tuple(pairs)


# -- Item checks --------------------------------------------------------------------------------


def _id_problem(value: int) -> str | None:
    return None if 0 <= value < 2**32 else f"{value} is not a uid/gid"


def _absolute_path(value: str) -> str | None:
    return None if value.startswith("/") else f"{value!r} is not an absolute path"


def _redaction_problem(value: str) -> str | None:
    if value in REDACTIONS:
        return None
    return f"{value!r} is not something sockspy redacts (known: {', '.join(REDACTIONS)})"


def _hex_problem(value: str) -> str | None:
    if _HEX.fullmatch(value):
        return None
    return f"{value!r} is not a container id prefix (lower-case hex, up to 64 characters)"


def _cidr_problem(value: str) -> str | None:
    try:
        ipaddress.ip_network(value)
    except ValueError as exc:
        return f"{value!r} is not a CIDR: {exc}"
    return None


def _method_problem(value: str) -> str | None:
    if value in METHODS:
        return None
    if value.upper() in METHODS:
        return f"{value!r}: methods are exact-case in dockerd, write {value.upper()!r}"
    return f"{value!r} is not an HTTP method dockerd serves"


def _glob_problem(value: str) -> str | None:
    if any(fnmatchcase(endpoint, value) for endpoint in ENDPOINTS):
        return None
    return f"{value!r} matches no endpoint (names look like container.create, exec.*)"


def _path_problem(value: str) -> str | None:
    if not value.startswith(("/", "*")):
        return f"{value!r} does not start with '/'"
    if _VERSIONED_PATH.match(value):
        return f"{value!r}: paths are matched without the /vX.Y prefix"
    return None


def _finding_problem(value: str) -> str | None:
    if value == ANY_FINDING or value in FINDING_CODES:
        return None
    known = ", ".join([ANY_FINDING, *sorted(FINDING_CODES)])
    return f"{value!r} is not a finding code (known: {known})"


def _toml_type(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}
    for kind, name in names.items():
        if type(value) is kind:
            return name
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _toml_text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _article(what: str) -> str:
    singular = what.removesuffix("s")
    return f"an {singular}" if singular[:1] in "aeiou" else f"a {singular}"


def endpoints_matching(globs: tuple[str, ...]) -> frozenset[str]:
    """The endpoint names any of `globs` matches."""
    return frozenset(e for e in ENDPOINTS if any(fnmatchcase(e, g) for g in globs))
