"""Identify the client of an accepted connection: SO_PEERCRED for unix, address for tcp."""

from __future__ import annotations

import socket
import struct

import trio

from sockspy.core.identity import Client, PeerCred

_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


def identify(stream: trio.SocketStream, front: str) -> Client:
    sock = stream.socket
    if sock.family == socket.AF_UNIX:
        try:
            raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
        except OSError:
            return Client(front=front)
        pid, uid, gid = _UCRED.unpack(raw)
        return Client(front=front, peer=PeerCred(pid=pid, uid=uid, gid=gid))
    try:
        host, port = sock.getpeername()[:2]
    except OSError:
        return Client(front=front)
    return Client(front=front, ip=host, port=port)
