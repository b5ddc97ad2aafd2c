"""Identify the client of an accepted connection: SO_PEERCRED for unix, address for tcp.

For a unix peer, /proc tells who is behind it, read once per connection: its executable,
its arguments, its parent, its login uid (the person behind sudo), its systemd unit and
its container. Each read is one small file; a process that has gone or lives in another
pid namespace leaves the facts it cannot give empty.
"""

from __future__ import annotations

import functools
import os
import pwd
import socket
import struct

import trio

from sockspy.core.deciding.client import (
    CMDLINE_CAP,
    Client,
    PeerCred,
    PeerProcess,
    container_id_from_cgroup,
    parse_cmdline,
    parse_login_uid,
    parse_ppid,
    unit_from_cgroup,
)
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
        exe, container_id, process = _process_facts(pid, uid)
        return Client(
            front=front,
            peer=PeerCred(pid=pid, uid=uid, gid=gid),
            exe=exe,
            container_id=container_id,
            process=process,
        )
    try:
        host, port = sock.getpeername()[:2]
    except OSError:
        return Client(front=front)
    return Client(front=front, ip=host, port=port)


def _process_facts(pid: int, uid: int) -> tuple[str | None, str | None, PeerProcess | None]:
    """The peer's executable, container id and the rest of what /proc says of it.

    The executable path is as the peer's own mount namespace names it (a process in a
    container shows its in-container path). Everything is None (or empty) that /proc
    does not say: the peer has exited, or runs in another pid namespace and reported 0.
    """
    if pid <= 0:
        return None, None, None
    exe = _link(f"/proc/{pid}/exe")
    cgroup = _text(f"/proc/{pid}/cgroup")
    login_uid = parse_login_uid(_text(f"/proc/{pid}/loginuid") or "")
    ppid = parse_ppid(_text(f"/proc/{pid}/stat") or "")
    process = PeerProcess(
        cmdline=parse_cmdline(_bytes(f"/proc/{pid}/cmdline", CMDLINE_CAP)),
        user=_user_name(uid),
        login_uid=login_uid,
        login_user=_user_name(login_uid) if login_uid is not None else None,
        ppid=ppid,
        parent_exe=_link(f"/proc/{ppid}/exe") if ppid else None,
        unit=unit_from_cgroup(cgroup) if cgroup else None,
    )
    return exe, container_id_from_cgroup(cgroup) if cgroup else None, process


def _link(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def _bytes(path: str, limit: int = 65536) -> bytes:
    """A small /proc file, read with plain system calls (no buffered file object: this
    runs for every accepted connection)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return b""
    try:
        return os.read(fd, limit)
    except OSError:
        return b""
    finally:
        os.close(fd)


def _text(path: str) -> str | None:
    data = _bytes(path)
    return data.decode("utf-8", "replace") if data else None


@functools.lru_cache(maxsize=256)
def _user_name(uid: int) -> str | None:
    """The name of `uid` on this host, looked up once (NSS may be slow: LDAP, sssd)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except (KeyError, OverflowError):
        return None
