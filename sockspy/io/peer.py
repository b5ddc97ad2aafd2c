"""Identify the client of an accepted connection: SO_PEERCRED for unix, address for tcp."""

from __future__ import annotations

import os
import socket
import struct

import trio

from sockspy.core.serving.identity import Client, PeerCred, container_id_from_cgroup
from sockspy.io.sockstream import SockStream

_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


def identify(stream: SockStream | trio.SocketStream, front: str) -> Client:
    """The client as its socket shows it (a TLS front adds its certificate's names later)."""
    sock = stream.socket
    if sock.family == socket.AF_UNIX:
        try:
            raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
        except OSError:
            return Client(front=front)
        pid, uid, gid = _UCRED.unpack(raw)
        exe, container_id = _process_facts(pid)
        return Client(
            front=front,
            peer=PeerCred(pid=pid, uid=uid, gid=gid),
            exe=exe,
            container_id=container_id,
        )
    try:
        host, port = sock.getpeername()[:2]
    except OSError:
        return Client(front=front)
    return Client(front=front, ip=host, port=port)


def _process_facts(pid: int) -> tuple[str | None, str | None]:
    """The peer's executable and container id, read from /proc at connect time.

    The executable path is as the peer's own mount namespace names it (a process in a
    container shows its in-container path). Either is None when /proc does not say (the
    peer has exited, or runs in another pid namespace and reported pid 0).
    """
    if pid <= 0:
        return None, None
    try:
        exe: str | None = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        exe = None
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8") as cgroup:
            container_id = container_id_from_cgroup(cgroup.read())
    except OSError:
        container_id = None
    return exe, container_id
