"""Who is asking: the client on the other end of a front connection.

An input of deciding (profiles match it, tenants are made from it), built by the I/O
layer from the socket, /proc and the TLS session (`sockspy.io.peer`, `sockspy.io.tls`).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sockspy.core.docker.secrets import mask_cmdline
from sockspy.core.records import ClientFields

# A container's cgroup path ends in its 64-hex id: /docker/<id>, docker-<id>.scope
# (systemd driver), cri-containerd-<id>.scope, /kubepods/.../<id>.
_CONTAINER_ID = re.compile(r"(?<![0-9a-f])([0-9a-f]{64})(?:\.scope)?$")


@dataclass(frozen=True, slots=True)
class PeerCred:
    """SO_PEERCRED of a unix-socket peer, as the kernel reported it at connect time."""

    pid: int
    uid: int
    gid: int


@dataclass(frozen=True, slots=True)
class PeerProcess:
    """Who is behind a unix peer, as /proc tells it when the connection is accepted.

    `login_uid` is the kernel's audit login uid (/proc/<pid>/loginuid): the uid the
    person logged in with, kept through sudo and su, so `sudo docker run` names the
    person and not root. `unit` is the systemd unit the process runs in (its cgroup).
    """

    cmdline: tuple[str, ...] = ()  # its arguments, capped (CMDLINE_CAP bytes)
    user: str | None = None  # the name of the peer's uid
    login_uid: int | None = None
    login_user: str | None = None
    ppid: int | None = None
    parent_exe: str | None = None
    unit: str | None = None

    def add_fields(self, out: ClientFields) -> None:
        if self.cmdline:
            out["peer_cmdline"] = list(self.cmdline)
        if self.user is not None:
            out["peer_user"] = self.user
        if self.login_uid is not None:
            out["peer_login_uid"] = self.login_uid
        if self.login_user is not None:
            out["peer_login_user"] = self.login_user
        if self.ppid is not None:
            out["peer_ppid"] = self.ppid
        if self.parent_exe is not None:
            out["peer_parent_exe"] = self.parent_exe
        if self.unit is not None:
            out["peer_unit"] = self.unit


CMDLINE_CAP = 4096  # bytes of /proc/<pid>/cmdline kept: enough for any docker command line
_NO_LOGIN_UID = 4294967295  # (uid_t)-1: no login uid was ever set (a daemon, a container)
# The systemd unit kinds a process runs in; slices hold units, they are not one.
_UNIT_SUFFIXES = (".service", ".scope", ".socket", ".mount", ".swap")


def parse_cmdline(raw: bytes) -> tuple[str, ...]:
    """/proc/<pid>/cmdline: NUL-separated arguments, capped, as text, with the secrets a
    docker command line can hold masked (`secrets.mask_cmdline`)."""
    raw = raw[:CMDLINE_CAP]
    args = raw.split(b"\0")
    if args and args[-1] == b"":
        args.pop()
    return mask_cmdline(tuple(arg.decode("utf-8", "replace") for arg in args))


def parse_login_uid(text: str) -> int | None:
    """/proc/<pid>/loginuid; None when unset or unreadable."""
    try:
        uid = int(text.strip())
    except ValueError:
        return None
    return None if uid == _NO_LOGIN_UID or uid < 0 else uid


def parse_ppid(stat: str) -> int | None:
    """The parent pid in /proc/<pid>/stat: the field after the state, after the last ")"
    (the command name in parentheses may hold spaces and parentheses itself)."""
    fields = stat.rpartition(")")[2].split()
    try:
        return int(fields[1])
    except (IndexError, ValueError):
        return None


def unit_from_cgroup(text: str) -> str | None:
    """The systemd unit in a /proc/<pid>/cgroup file: the innermost unit on the path of
    systemd's own hierarchy (cgroup v2's "0::" line, or v1's "name=systemd")."""
    for line in text.splitlines():
        if not line.startswith("0::") and ":name=systemd:" not in line:
            continue
        for part in reversed(line.split(":", 2)[-1].split("/")):
            if part.endswith(_UNIT_SUFFIXES):
                return part
    return None


@dataclass(frozen=True, slots=True)
class Client:
    """The identity of one client connection: the front it came in on, and its peer."""

    front: str
    peer: PeerCred | None = None  # unix fronts
    ip: str | None = None  # tcp fronts
    port: int | None = None
    exe: str | None = None  # the peer's executable (/proc/<pid>/exe), unix fronts
    # The peer's container: a unix peer's from /proc/<pid>/cgroup, a tcp peer's from the
    # daemon's networks (the container that owns the source address); its name from the
    # daemon (`sockspy.io.peer_container`).
    container_id: str | None = None
    container_name: str | None = None
    process: PeerProcess | None = None  # more of the peer process, from /proc (unix fronts)
    tls_cn: str | None = None  # TLS fronts with a verified client certificate: its subject CN
    tls_names: tuple[str, ...] = ()  # ... and every name it carries: the CN, then its SANs
    tls_serial: str | None = None  # ... its serial number (hex), and who issued it
    tls_issuer: str | None = None

    def fields(self) -> ClientFields:
        """Flat audit-record fields: peer_uid/gid/pid for unix, client_ip/port for tcp, and
        tls_cn/tls_names for a client certificate."""
        out: ClientFields = {"front": self.front}
        if self.peer is not None:
            out["peer_uid"], out["peer_gid"] = self.peer.uid, self.peer.gid
            out["peer_pid"] = self.peer.pid
        if self.exe is not None:
            out["peer_exe"] = self.exe
        if self.process is not None:
            self.process.add_fields(out)
        if self.ip is not None:
            out["client_ip"], out["client_port"] = self.ip, self.port
            if self.container_id is not None:
                out["client_container_id"] = self.container_id
            if self.container_name is not None:
                out["client_container"] = self.container_name
        elif self.container_id is not None:
            out["peer_container"] = self.container_id
            if self.container_name is not None:
                out["peer_container_name"] = self.container_name
        if self.tls_names:
            out["tls_cn"], out["tls_names"] = self.tls_cn, list(self.tls_names)
            if self.tls_serial is not None:
                out["tls_serial"] = self.tls_serial
            if self.tls_issuer is not None:
                out["tls_issuer"] = self.tls_issuer
        return out


# What `ssl.SSLSocket.getpeercert()` returns: subject as RDN tuples of (key, value) pairs,
# subjectAltName as (type, value) pairs. Typed loosely: it is a dict of nested tuples.
PeerCert = Mapping[str, Any]
_SAN_TYPES = ("DNS", "IP Address", "email", "URI")


def tls_identity(cert: PeerCert | None) -> tuple[str | None, tuple[str, ...]]:
    """(CN, names) of a verified client certificate, as `getpeercert()` decoded it.

    The names are the subject's common name followed by the subject alternative names
    (DNS names, IP addresses, e-mail addresses, URIs) in certificate order, without
    repeats. A profile's `tls_names` matches any of them. None and () without a certificate.
    """
    if not cert:
        return None, ()
    cn: str | None = None
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName" and cn is None:
                cn = str(value)
    names: list[str] = [cn] if cn else []
    for kind, value in cert.get("subjectAltName", ()):
        if kind in _SAN_TYPES and value not in names:
            names.append(str(value))
    return cn, tuple(names)


_RDN_KEYS = {
    "commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU",
    "countryName": "C", "stateOrProvinceName": "ST", "localityName": "L",
}  # fmt: skip


def tls_serial_and_issuer(cert: PeerCert | None) -> tuple[str | None, str | None]:
    """(serial, issuer) of a verified client certificate, as `getpeercert()` decoded it:
    the serial in hex, the issuer as "CN=..., O=..." (an auditor tells two certificates
    with one name apart by these, and a rotated CA from the old one)."""
    if not cert:
        return None, None
    serial = cert.get("serialNumber")
    parts = [
        f"{_RDN_KEYS.get(key, key)}={value}" for rdn in cert.get("issuer", ()) for key, value in rdn
    ]
    return (str(serial) if serial else None), (", ".join(parts) or None)


def container_id_from_cgroup(text: str) -> str | None:
    """The container id in a /proc/<pid>/cgroup file, or None for a host process."""
    for line in text.splitlines():
        path = line.split(":", 2)[-1]
        match = _CONTAINER_ID.search(path)
        if match:
            return match.group(1)
    return None


def client_key(client: Client) -> str:
    """Whom a connection counts against: a client certificate, a unix uid, a tcp address,
    else its front. A certificate is the strongest identity: its holder counts as one
    client from any address, and two holders behind one address count as two."""
    if client.tls_names:
        return f"tls:{client.tls_cn or client.tls_names[0]}"
    if client.peer is not None:
        return f"uid:{client.peer.uid}"
    if client.ip is not None:
        return f"ip:{client.ip}"
    return f"front:{client.front}"
