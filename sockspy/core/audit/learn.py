"""A least-privilege policy learnt from observed traffic (`sockspy learn`).

Clients are grouped into profiles by one fact of their identity (`--profile-by`): uid,
executable, container name, certificate CN or address. A client the chosen fact does not
identify (a tcp client under ``uid``, a unix one under ``cert``) is profiled by the first
fact that does, in `PROFILE_BY` order: a learnt rule never reaches clients nobody saw.
Each profile is allowed the endpoints its clients were seen to use, and nothing else
(endpoint names already generalise container ids and names, image names and API
versions).

Access is never widened because it was seen:
- every profile gets an explicit deny of any host-access finding, and each finding a
  client was seen to need is written above it as a commented allow rule, for a person to
  review (as AppArmor's complain mode keeps its denials);
- observed bind sources, cleaned as dockerd cleans them, are written as a commented
  ``allowed_bind_paths``: by the rules every host path is host access until a person
  lists it;
- clients identified by no fact at all (the ``default`` profile) get their rules
  commented out.

Sans-IO: records in, TOML text out; `sockspy check` reads what it writes.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sockspy.core.docker.bindpaths import bind_source, go_clean

ProfileBy = Literal["uid", "exe", "container", "cert", "cidr"]
PROFILE_BY: tuple[ProfileBy, ...] = ("uid", "exe", "container", "cert", "cidr")
DEFAULT = "default"
_NAME = re.compile(r"[^A-Za-z0-9_.:-]+")


@dataclass(slots=True)
class _Profile:
    name: str
    criterion: tuple[str, Any] | None  # (policy key, value); None for "default"
    endpoints: Counter[str] = field(default_factory=Counter)
    findings: dict[tuple[str, str], int] = field(default_factory=dict)  # (endpoint, code) -> n


def _key(record: Mapping[str, Any], by: ProfileBy) -> tuple[str, str, Any] | None:
    """(profile name, policy key, value) of a record's client: by the fact `by`, else by
    the first fact that identifies it; None when none does (the default profile)."""
    for fact in (by, *PROFILE_BY):
        key = _key_by(record, fact)
        if key is not None:
            return key
    return None


def _key_by(record: Mapping[str, Any], by: ProfileBy) -> tuple[str, str, Any] | None:
    if by == "uid" and record.get("peer_uid") is not None:
        uid = int(record["peer_uid"])
        user = record.get("peer_user")
        return (f"uid-{user or uid}", "uids", uid)
    if by == "exe" and record.get("peer_exe"):
        exe = str(record["peer_exe"])
        return (f"exe-{exe.rsplit('/', 1)[-1]}", "executables", exe)
    if by == "container":
        name = record.get("peer_container_name") or record.get("client_container")
        if name:
            return (f"container-{name}", "container_names", _glob_escape(str(name)))
        cid = record.get("peer_container") or record.get("client_container_id")
        if cid:
            return (f"container-{str(cid)[:12]}", "containers", str(cid)[:12])
    if by == "cert" and record.get("tls_cn"):
        return (f"cert-{record['tls_cn']}", "tls_names", str(record["tls_cn"]))
    if by == "cidr" and record.get("client_ip"):
        address = ipaddress.ip_address(str(record["client_ip"]).split("%", 1)[0])
        network = ipaddress.ip_network(f"{address}/{address.max_prefixlen}")
        return (f"net-{address}", "cidrs", str(network))
    return None


def _glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def learn(records: Iterable[Mapping[str, Any]], by: ProfileBy = "uid") -> str:
    profiles: dict[str, _Profile] = {}
    binds: Counter[str] = Counter()  # host paths, cleaned
    for record in records:
        if record.get("event") != "exchange" or record.get("decision") in (None, "reject"):
            continue
        if record.get("code") in ("audit_unavailable", "transcript_unavailable", "rate_limited"):
            continue
        key = _key(record, by)
        name = _NAME.sub("-", key[0]) if key else DEFAULT
        profile = profiles.get(name)
        if profile is None:
            profile = profiles[name] = _Profile(name, (key[1], key[2]) if key else None)
        endpoint = str(record.get("endpoint") or "unknown")
        if endpoint == "unknown":
            continue  # dockerd routes none of these: never learnt
        profile.endpoints[endpoint] += 1
        for code in record.get("findings") or []:
            found = (endpoint, str(code))
            profile.findings[found] = profile.findings.get(found, 0) + 1
        summary = record.get("summary")
        if isinstance(summary, Mapping):
            for bind in summary.get("binds") or []:
                source = bind_source(str(bind))
                if source is not None:
                    binds[go_clean(source)] += 1
            for mount in summary.get("mounts") or []:
                match = re.search(r"type=bind,src=([^,]+)", str(mount))
                if match:
                    binds[go_clean(match.group(1))] += 1
    return _render(list(profiles.values()), binds, by)


def _q(value: Any) -> str:
    return json.dumps(value)  # a TOML basic string or integer, as JSON writes them


def _list(values: Iterable[Any]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def _render(profiles: list[_Profile], binds: Counter[str], by: ProfileBy) -> str:
    out = [
        f"# Learnt by `sockspy learn --profile-by {by}` from observed traffic. Review it:",
        "# every profile may use the endpoints it was seen to use and nothing else, and no",
        "# host access is allowed; what was seen to need it is commented out below.",
        'mode = "enforce"',
        "",
        "[host_access]",
    ]
    out.append("allowed_bind_paths = []")
    if binds:
        out += [
            "# Seen bound (cleaned as dockerd cleans them). Each is host access until listed:",
            "# list only trees no client can write into (dockerd follows symlinks there).",
            f"# allowed_bind_paths = {_list(sorted(binds))}",
        ]
    ordered = [p for p in profiles if p.criterion is not None] + [
        p for p in profiles if p.criterion is None
    ]
    for profile in ordered:
        if profile.criterion is None:
            continue
        key, value = profile.criterion
        out += ["", "[[profiles]]", f"name = {_q(profile.name)}", f"{key} = {_list([value])}"]
    for profile in ordered:
        out += ["", f"# -- {profile.name}: {sum(profile.endpoints.values())} requests seen"]
        if profile.criterion is None:
            out += _unidentified(profile)
            continue
        for (endpoint, code), count in sorted(profile.findings.items()):
            out += [
                f"# Seen {count}x: {endpoint} with host access '{code}'. To allow it, review",
                "# and uncomment (it must stay above the deny below):",
                "# [[rules]]",
                f"# name = {_q(_NAME.sub('-', f'{profile.name}-{endpoint}-{code}'))}",
                '# action = "allow"',
                f"# profiles = {_list([profile.name])}",
                f"# endpoints = {_list([endpoint])}",
                f"# if_findings = {_list([code])}",
            ]
        out += [
            "[[rules]]",
            f"name = {_q(profile.name + '-no-host-access')}",
            'action = "deny"',
            f"profiles = {_list([profile.name])}",
            'if_findings = ["host_access"]',
            "",
            "[[rules]]",
            f"name = {_q(profile.name + '-seen')}",
            'action = "allow"',
            f"profiles = {_list([profile.name])}",
            f"endpoints = {_list(sorted(profile.endpoints))}",
        ]
    return "\n".join(out) + "\n"


def _unidentified(profile: _Profile) -> list[str]:
    """The default profile's rule, commented out: it would reach every client no
    profile matches, seen or not."""
    return [
        "# from clients no fact identified; allowing them would allow every such client.",
        "# To allow it anyway, review and uncomment:",
        "# [[rules]]",
        f"# name = {_q(profile.name + '-seen')}",
        '# action = "allow"',
        f"# profiles = {_list([profile.name])}",
        '# unless_findings = ["host_access"]',
        f"# endpoints = {_list(sorted(profile.endpoints))}",
    ]
