"""Who is on the other end of a front connection."""

from __future__ import annotations

from dataclasses import dataclass


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

    def fields(self) -> dict[str, object]:
        """Flat audit-record fields: peer_uid/gid/pid for unix, client_ip/port for tcp."""
        out: dict[str, object] = {"front": self.front}
        if self.peer is not None:
            out.update(peer_uid=self.peer.uid, peer_gid=self.peer.gid, peer_pid=self.peer.pid)
        if self.ip is not None:
            out.update(client_ip=self.ip, client_port=self.port)
        return out
