"""The real daemon is the oracle: sockspy must read a create body exactly as dockerd does.

Hypothesis writes container-create bodies meant to confuse a decoder (key case variants,
the Kelvin sign and the long s, ``\\u`` escapes, duplicate keys that merge or overwrite,
Go's slice element reuse, legacy top-level HostConfig fields with and without
"HostConfig" or a null one, values of the wrong type, bytes after the JSON value). Each
body goes straight to the daemon (``POST /v1.41/containers/create``); what the daemon
stored (``GET /containers/{id}/json``) is then compared with what sockspy decoded:

* the HostConfig dockerd stores equals `effective_host_config` of sockspy's decoding for
  this engine's version (from 27 the legacy fields are ignored, from 26 the default
  network mode is "bridge"), field by field, so the findings on it are exactly the host
  access the daemon granted;
* every host access the daemon granted is among sockspy's findings for the request
  (sockspy checks the legacy fields as well, so it may report more, never less);
* a body the daemon refuses is refused by sockspy too, or reported (unless the daemon's
  reason is one of `UNRELATED_REFUSALS`, which involve no host access).

Three generators: a general mix, one aimed at slices met twice, one at legacy fields only.
Every container made here is named ``gojson-diff-*`` and removed, also on failure, and
so is the one named volume (no anonymous volumes: dockerd leaks them on a refused create).
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support.daemon import DockerDaemon
from support.deciding import findings
from support.http import connect

from sockspy.core.docker.gojson import BodyDecodeError, decode_into
from sockspy.core.docker.request import classify_request
from sockspy.core.docker.schemas import (
    CONTAINER_CREATE,
    CONTAINER_CREATE_27,
    effective_host_config,
)
from sockspy.core.wire.head import parse_request_head
from sockspy.policy.hostaccess import HostAccessOptions
from sockspy.policy.hostconfig import DEFAULT_CAPABILITIES, Where, host_config_findings

pytestmark = pytest.mark.e2e

PREFIX = "gojson-diff-"
NAMED_VOLUME = "gojson-diff-nv"
OPTIONS = HostAccessOptions()
# The findings this test can provoke, and so compares with the daemon.
COMPARED = frozenset(
    {"privileged", "cap_add", "bind_mount", "pid_mode", "network_mode", "security_opt"}
    | {"cgroup_parent"}
)
# Daemon refusals that have nothing to do with host access (and that sockspy need not see):
# a mount point used twice, an empty Binds entry (from a null element), and a bind's
# Source merged into a volume or tmpfs mount (Go's slice reuse): the local driver refuses
# a volume named like a path, tmpfs refuses any Source. No host path is mounted.
UNRELATED_REFUSALS = (
    "Duplicate mount point",
    "invalid volume specification: ''",
    "includes invalid characters for a local volume name",
    'invalid mount config for type "tmpfs": field Source must not be specified',
)


@dataclass
class Reply:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Api:
    """Raw HTTP to the daemon, one connection per request (no client library in between)."""

    def __init__(self, host: str, engine: tuple[int, int]) -> None:
        self.host = host
        self.engine = engine  # where dockerd's decoding differs by version

    def call(self, method: str, path: str, body: bytes | None = None) -> Reply:
        conn = connect(self.host, timeout=60)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return Reply(response.status, response.read())
        finally:
            conn.close()

    def remove(self, name: str) -> None:
        self.call("DELETE", f"/v1.41/containers/{name}?force=1&v=1")


@pytest.fixture(scope="module")
def api(docker_daemon: DockerDaemon, test_image: str) -> Iterator[Api]:
    client = Api(docker_daemon.host, docker_daemon.engine)
    yield client
    # Whatever a failed example may have left behind.
    filters = quote(json.dumps({"name": [PREFIX]}))
    for container in client.call("GET", f"/v1.41/containers/json?all=1&filters={filters}").json():
        for name in container.get("Names", []):
            if name.lstrip("/").startswith(PREFIX):
                client.remove(name.lstrip("/"))
    client.call("DELETE", f"/v1.41/volumes/{NAMED_VOLUME}")


# -- Bodies -------------------------------------------------------------------------------

BIND_SPECS = [
    "/tmp:/gd-tmp",
    "/etc:/gd-etc:ro",
    "//tmp/../tmp/:/gd-tmp2",
    f"{NAMED_VOLUME}:/gd-nv",
    "rel/dir:/gd-rel",
]  # no anonymous volume ("/data"): dockerd leaks it when it then refuses the create
MOUNT_SPECS = [
    {"Type": "bind", "Source": "/tmp", "Target": "/gd-m"},
    {"Target": "/gd-m2"},  # alone: no type, refused; merged into a bind: a bind
    {"Type": "volume", "Source": NAMED_VOLUME, "Target": "/gd-mv"},
    {"Type": "tmpfs", "Target": "/gd-mt"},
]
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "Privileged": st.booleans(),
    "CapAdd": st.sampled_from(["NET_ADMIN", "cap_sys_admin", "all"])
    | st.lists(st.sampled_from(["CHOWN", "cap_net_admin", "Sys_Ptrace", "CAP_KILL"]), max_size=3),
    "Binds": st.lists(
        st.sampled_from(BIND_SPECS) | st.none(),  # null keeps the old element (slice reuse)
        max_size=3,
        unique=True,
    ),
    "Mounts": st.lists(st.sampled_from(MOUNT_SPECS) | st.none(), max_size=2),
    "PidMode": st.sampled_from(["", "host"]),
    "NetworkMode": st.sampled_from(["", "default", "none", "bridge", "host"]),
    "SecurityOpt": st.lists(
        st.sampled_from(
            ["no-new-privileges", "seccomp=unconfined", "label=disable", "apparmor:unconfined"]
        ),
        max_size=2,
        unique=True,
    ),
    "CgroupParent": st.sampled_from(["", "gojson-diff"]),
}
WRONG_TYPES: dict[str, Any] = {
    "Privileged": "true",
    "CapAdd": 5,
    "Binds": "/tmp:/gd-x",
    "Mounts": {"Type": "bind"},
    "PidMode": ["host"],
    "NetworkMode": 1,
    "SecurityOpt": {"a": "b"},
    "CgroupParent": False,
}
FIELDS = sorted(VALUES)
# Second values for a slice met again: Go decodes them into the old elements.
REUSE: dict[str, st.SearchStrategy[Any]] = {
    "Binds": st.lists(st.none(), min_size=1, max_size=3),
    "Mounts": st.lists(st.none() | st.just({"Target": "/gd-m2"}), min_size=1, max_size=2),
}


def value_for(field: str) -> st.SearchStrategy[Any]:
    """Mostly a valid value, sometimes null, rarely one of the wrong type."""

    def pick(roll: int) -> st.SearchStrategy[Any]:
        return (
            st.just(WRONG_TYPES[field]) if roll == 0 else st.none() if roll == 1 else VALUES[field]
        )

    return st.integers(0, 11).flatmap(pick)


def spell(name: str, rnd: random.Random) -> str:
    """A quoted JSON key that Go matches to field `name`."""
    out = []
    for char in name:
        roll = rnd.random()
        if char in "sS" and roll < 0.15:
            char = "\u017f"  # LATIN SMALL LETTER LONG S folds to s
        elif char in "kK" and roll < 0.3:
            char = "\u212a"  # KELVIN SIGN folds to k
        elif roll < 0.3:
            char = char.swapcase()
        out.append(f"\\u{ord(char):04x}" if rnd.random() < 0.1 else char)
    return '"' + "".join(out) + '"'


def encode(value: Any, rnd: random.Random) -> str:
    """JSON text, with some characters of strings written as \\u escapes."""
    if isinstance(value, str):
        chars = (f"\\u{ord(c):04x}" if rnd.random() < 0.1 else json.dumps(c)[1:-1] for c in value)
        return '"' + "".join(chars) + '"'
    if isinstance(value, list):
        return "[" + ",".join(encode(v, rnd) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{encode(k, rnd)}:{encode(v, rnd)}" for k, v in value.items()) + "}"
    return json.dumps(value)


@st.composite
def member(draw: st.DrawFn) -> tuple[str, Any]:
    field = draw(st.sampled_from(FIELDS))
    return field, draw(value_for(field))


TRAILER = b' {"HostConfig":{"Privileged":true}}'  # Go's Decode never reads this far


@st.composite
def create_bodies(draw: st.DrawFn) -> tuple[bytes, bool]:
    """(the body's members after "Image", whether `TRAILER` follows the JSON value)."""
    rnd = draw(st.randoms(use_true_random=False))
    parts: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["inner", "inner", "legacy", "null"]))
        if kind == "inner":
            members = draw(st.lists(member(), max_size=5))
            if members and draw(st.booleans()):  # the same field again: merge or overwrite
                field = draw(st.sampled_from(members))[0]
                members.append((field, draw(REUSE.get(field, value_for(field)))))
            inner = ",".join(f"{spell(f, rnd)}:{encode(v, rnd)}" for f, v in members)
            parts.append(f"{spell('HostConfig', rnd)}:{{{inner}}}")
        elif kind == "legacy":
            field, value = draw(member())
            parts.append(f"{spell(field, rnd)}:{encode(value, rnd)}")
        else:
            parts.append(f"{spell('HostConfig', rnd)}:null")
    return (",".join(parts) + "}").encode(), draw(st.integers(1, 10)) == 5  # 1 in 10


@st.composite
def slice_reuse_bodies(draw: st.DrawFn) -> tuple[bytes, bool]:
    """Binds or Mounts met two or three times: in one HostConfig, in two, or at top level.

    Go decodes each later array into the slice left by the one before: element i into
    old element i (null keeps it, an object merges into it), and elements past the
    shorter array's end come back when a longer one reaches them.
    """
    rnd = draw(st.randoms(use_true_random=False))
    field = draw(st.sampled_from(["Binds", "Mounts"]))
    specs = BIND_SPECS if field == "Binds" else MOUNT_SPECS
    values = [draw(st.lists(st.sampled_from(specs), min_size=1, max_size=3, unique_by=str))]
    values += draw(st.lists(REUSE[field] | VALUES[field], min_size=1, max_size=2))
    members = [f"{spell(field, rnd)}:{encode(value, rnd)}" for value in values]
    where = draw(st.sampled_from(["one HostConfig", "HostConfig each", "top level"]))
    if where == "top level":
        return (",".join(members) + "}").encode(), False
    if where == "one HostConfig":
        objects = ["{" + ",".join(members) + "}"]
    else:
        objects = ["{" + member + "}" for member in members]
    key = spell("HostConfig", rnd)
    return (",".join(f"{key}:{obj}" for obj in objects) + "}").encode(), False


@st.composite
def legacy_bodies(draw: st.DrawFn) -> tuple[bytes, bool]:
    """Only legacy top-level HostConfig fields, perhaps beside a null "HostConfig"."""
    rnd = draw(st.randoms(use_true_random=False))
    members = draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True))
    parts = [f"{spell(field, rnd)}:{encode(draw(VALUES[field]), rnd)}" for field in members]
    if draw(st.booleans()):
        parts.insert(draw(st.integers(0, len(parts))), f"{spell('HostConfig', rnd)}:null")
    return (",".join(parts) + "}").encode(), False


# -- What the daemon granted ----------------------------------------------------------------


def granted(stored: dict[str, Any], mounts: list[dict[str, Any]]) -> set[str]:
    """The host access a stored container has, as finding codes (for the fields generated)."""
    found = set()
    if stored.get("Privileged"):
        found.add("privileged")
    caps = [c.upper().removeprefix("CAP_") for c in stored.get("CapAdd") or []]
    if set(caps) - DEFAULT_CAPABILITIES:
        found.add("cap_add")
    if any(m.get("Type") == "bind" for m in mounts):
        found.add("bind_mount")
    if stored.get("PidMode") == "host":
        found.add("pid_mode")
    if stored.get("NetworkMode") == "host":
        found.add("network_mode")
    if set(stored.get("SecurityOpt") or []) - {"no-new-privileges"}:
        found.add("security_opt")
    if stored.get("CgroupParent"):
        found.add("cgroup_parent")
    return found


def label_disabled_by_daemon(host_config: dict[str, Any]) -> bool:
    """daemon/create.go generateSecurityOpt: with no "label=..." option of its own, a
    privileged container, or one in the host's PID or IPC namespace, gets "label=disable"."""
    opts = host_config.get("SecurityOpt") or []
    if any(opt.split("=")[0] == "label" for opt in opts):
        return False
    modes = (host_config.get("PidMode"), host_config.get("IpcMode"))
    return bool(host_config.get("Privileged")) or "host" in modes


def assert_same_host_config(
    effective: dict[str, Any], stored: dict[str, Any], engine: tuple[int, int]
) -> None:
    assert stored["Privileged"] == bool(effective.get("Privileged"))
    assert (stored["CapAdd"] or []) == (effective.get("CapAdd") or [])
    assert (stored["Binds"] or []) == (effective.get("Binds") or [])
    # dockerd stores Mounts with omitempty: zero values left out.
    mounts = [{k: v for k, v in m.items() if v} for m in effective.get("Mounts") or []]
    assert (stored.get("Mounts") or []) == mounts
    assert stored["PidMode"] == effective.get("PidMode", "")
    default_network = "bridge" if engine >= (26, 0) else "default"
    assert stored["NetworkMode"] == (effective.get("NetworkMode") or default_network)
    assert stored["CgroupParent"] == effective.get("CgroupParent", "")
    added = ["label=disable"] if label_disabled_by_daemon(effective) else []
    assert (stored["SecurityOpt"] or []) == [*(effective.get("SecurityOpt") or []), *added]


# -- The test -----------------------------------------------------------------------------

EXACT = Where(prefix="", allowed_log_drivers=OPTIONS.allowed_log_drivers)


SETTINGS = settings(
    deadline=None,
    derandomize=True,  # the same examples on every run
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@settings(SETTINGS, max_examples=60)
@given(generated=create_bodies())
def test_sockspy_decodes_create_bodies_as_the_daemon_does(
    api: Api, test_image: str, generated: tuple[bytes, bool]
) -> None:
    check_against_daemon(api, test_image, *generated)


@settings(SETTINGS, max_examples=40)
@given(generated=slice_reuse_bodies())
def test_sockspy_reuses_slice_elements_as_the_daemon_does(
    api: Api, test_image: str, generated: tuple[bytes, bool]
) -> None:
    check_against_daemon(api, test_image, *generated)


@settings(SETTINGS, max_examples=30)
@given(generated=legacy_bodies())
def test_sockspy_reads_legacy_top_level_fields_as_the_daemon_does(
    api: Api, test_image: str, generated: tuple[bytes, bool]
) -> None:
    check_against_daemon(api, test_image, *generated)


def check_against_daemon(api: Api, test_image: str, members: bytes, trailing: bool) -> None:
    body = b'{"Image":' + json.dumps(test_image).encode() + b"," + members
    sent = body + TRAILER if trailing else body
    name = f"{PREFIX}{secrets.token_hex(6)}"
    target = f"/v1.41/containers/create?name={name}"
    head = parse_request_head(f"POST {target} HTTP/1.1\r\nHost: docker\r\n\r\n".encode())
    request = classify_request(head).with_body(sent)
    try:
        sockspy: set[str] | None = {f.code for f in findings(request, OPTIONS, {})}
    except BodyDecodeError:
        sockspy = None

    created = api.call("POST", target, sent)
    try:
        if created.status != 201:
            event("daemon refused")
            message = created.json().get("message", "")
            unrelated = any(text in message for text in UNRELATED_REFUSALS)
            assert sockspy is None or sockspy or unrelated, (sent, message)
            return
        inspect = api.call("GET", f"/v1.41/containers/{name}/json").json()
    finally:
        if created.status == 201:
            api.remove(name)

    if trailing:
        event("daemon ignored bytes after the value; sockspy refused them")
        assert sockspy is None, "bytes after the JSON value must be refused"
        request = request.with_body(body)  # what Go read, to compare below
        sockspy = {f.code for f in findings(request, OPTIONS, {})}
    if sockspy is None and api.engine >= (27, 0):
        # From engine 27 dockerd ignores the legacy top-level fields; sockspy still
        # decodes (and refuses) them: stricter, never looser, where the rest is read alike.
        decode_into(body, CONTAINER_CREATE_27)
        event("sockspy refused a legacy field this engine ignores")
        return
    assert sockspy is not None, f"the daemon accepted a body sockspy refused: {sent!r}"

    # 1. sockspy decodes the HostConfig the daemon stored, field for field.
    effective = effective_host_config(decode_into(body, CONTAINER_CREATE), api.engine) or {}
    stored = inspect["HostConfig"]
    assert_same_host_config(effective, stored, api.engine)
    # 2. So the findings on it are exactly the host access the daemon granted...
    requested = {**stored, "SecurityOpt": effective.get("SecurityOpt")}  # less what dockerd adds
    daemon = granted(requested, inspect["Mounts"])
    exact = {code for code, _ in host_config_findings(effective, EXACT)} & COMPARED
    assert exact == daemon, (body, exact, daemon)
    # 3. ...and the request's findings (both HostConfigs read) include all of it.
    assert daemon <= sockspy, (body, daemon, sockspy)
    event(f"daemon granted host access: {bool(daemon)}")
    if sockspy & COMPARED != daemon:
        event("sockspy reported more (legacy fields beside a HostConfig)")
