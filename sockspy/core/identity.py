"""Who is on the other end of a front connection."""

from __future__ import annotations

import re
from dataclasses import dataclass

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
class Client:
    """The identity of one client connection: the front it came in on, and its peer."""

    front: str
    peer: PeerCred | None = None  # unix fronts
    ip: str | None = None  # tcp fronts
    port: int | None = None
    exe: str | None = None  # the peer's executable (/proc/<pid>/exe), unix fronts
    container_id: str | None = None  # the peer's container (from /proc/<pid>/cgroup), if any

    def fields(self) -> dict[str, object]:
        """Flat audit-record fields: peer_uid/gid/pid for unix, client_ip/port for tcp."""
        out: dict[str, object] = {"front": self.front}
        if self.peer is not None:
            out.update(peer_uid=self.peer.uid, peer_gid=self.peer.gid, peer_pid=self.peer.pid)
        if self.exe is not None:
            out["peer_exe"] = self.exe
        if self.container_id is not None:
            out["peer_container"] = self.container_id
        if self.ip is not None:
            out.update(client_ip=self.ip, client_port=self.port)
        return out


def container_id_from_cgroup(text: str) -> str | None:
    """The container id in a /proc/<pid>/cgroup file, or None for a host process."""
    for line in text.splitlines():
        path = line.split(":", 2)[-1]
        match = _CONTAINER_ID.search(path)
        if match:
            return match.group(1)
    return None
