"""A least-privilege policy learnt from observed traffic (`sockspy learn`).

Clients are grouped into profiles by one fact of their identity (`--profile-by`): uid,
executable, container name, certificate CN or address. Each profile is allowed the
endpoints its clients were seen to use, and nothing else (endpoint names already
generalise container ids and names, image names and API versions). Host access is never
allowed because it was seen: every profile gets an explicit deny of any host-access
finding, and each finding a client was seen to need is written above it as a commented
allow rule, for a person to review (as AppArmor's complain mode keeps its denials).
Observed bind mounts go to ``allowed_bind_paths``, except paths that give the host away
(``/``, ``/etc``, the Docker socket...), which are left commented too.

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

ProfileBy = Literal["uid", "exe", "container", "cert", "cidr"]
PROFILE_BY: tuple[ProfileBy, ...] = ("uid", "exe", "container", "cert", "cidr")
DEFAULT = "default"
# Bind sources never put in allowed_bind_paths by learning (a person must decide).
_HOST_PATHS = (
    "/etc",
    "/proc",
    "/sys",
    "/dev",
    "/boot",
    "/root",
    "/run",
    "/var/run",
    "/var/lib/docker",
)
_NAME = re.compile(r"[^A-Za-z0-9_.:-]+")


@dataclass(slots=True)
class _Profile:
    name: str
    criterion: tuple[str, Any] | None  # (policy key, value); None for "default"
    endpoints: Counter[str] = field(default_factory=Counter)
    findings: dict[tuple[str, str], int] = field(default_factory=dict)  # (endpoint, code) -> n


def _key(record: Mapping[str, Any], by: ProfileBy) -> tuple[str, str, Any] | None:
    """(profile name, policy key, value) of a record's client, or None (the default)."""
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
    binds: Counter[str] = Counter()
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
                source = str(bind).split(":", 1)[0]
                if source.startswith("/"):
                    binds[source] += 1
            for mount in summary.get("mounts") or []:
                match = re.search(r"type=bind,src=([^,]+)", str(mount))
                if match:
                    binds[match.group(1)] += 1
    return _render(list(profiles.values()), binds, by)


def _safe_bind(path: str) -> bool:
    clean = path.rstrip("/") or "/"
    if clean == "/":
        return False
    return (
        not any(
            clean == p or clean.startswith(p + "/") or p.startswith(clean + "/")
            for p in _HOST_PATHS
        )
        and "docker.sock" not in clean
    )


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
    safe = sorted(path for path in binds if _safe_bind(path))
    risky = sorted(path for path in binds if not _safe_bind(path))
    out.append(f"allowed_bind_paths = {_list(safe)}")
    if risky:
        out.append(f"# seen bound, and left out (they give the host away): {_list(risky)}")
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
