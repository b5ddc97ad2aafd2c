"""Who is on the other end of a front connection."""


import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Required, TypedDict

# A container's cgroup path ends in its 64-hex id: /docker/<id>, docker-<id>.scope
# (systemd driver), cri-containerd-<id>.scope, /kubepods/.../<id>.
_CONTAINER_ID = re.compile(r"(?<![0-9a-f])([0-9a-f]{64})(?:\.scope)?$")


@dataclass(frozen=True, slots=True)
class PeerCred:
    """SO_PEERCRED of a unix-socket peer, as the kernel reported it at connect time."""

    pid: int
    uid: int
    gid: int


class ClientFields(TypedDict, total=False):
    """Who a record is about, flat: unix peers, tcp peers, certificate holders."""

    front: Required[str]
    peer_uid: int
    peer_gid: int
    peer_pid: int
    peer_exe: str
    peer_container: str
    client_ip: str
    client_port: int | None
    tls_cn: str | None
    tls_names: list[str]


@dataclass(frozen=True, slots=True)
class Client:
    """The identity of one client connection: the front it came in on, and its peer."""

    front: str
    peer: PeerCred | None = None  # unix fronts
    ip: str | None = None  # tcp fronts
    port: int | None = None
    exe: str | None = None  # the peer's executable (/proc/<pid>/exe), unix fronts
    container_id: str | None = None  # the peer's container (from /proc/<pid>/cgroup), if any
    tls_cn: str | None = None  # TLS fronts with a verified client certificate: its subject CN
    tls_names: tuple[str, ...] = ()  # ... and every name it carries: the CN, then its SANs

    def fields(self) -> ClientFields:
        """Flat audit-record fields: peer_uid/gid/pid for unix, client_ip/port for tcp, and
        tls_cn/tls_names for a client certificate."""
        out: ClientFields = {"front": self.front}
        if self.peer is not None:
            out["peer_uid"], out["peer_gid"] = self.peer.uid, self.peer.gid
            out["peer_pid"] = self.peer.pid
        if self.exe is not None:
            out["peer_exe"] = self.exe
        if self.container_id is not None:
            out["peer_container"] = self.container_id
        if self.ip is not None:
            out["client_ip"], out["client_port"] = self.ip, self.port
        if self.tls_names:
            out["tls_cn"], out["tls_names"] = self.tls_cn, list(self.tls_names)
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


def container_id_from_cgroup(text: str) -> str | None:
    """The container id in a /proc/<pid>/cgroup file, or None for a host process."""
    for line in text.splitlines():
        path = line.split(":", 2)[-1]
        match = _CONTAINER_ID.search(path)
        if match:
            return match.group(1)
    return None
