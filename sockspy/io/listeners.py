"""Front sockets: unix, tcp and systemd's fd://, opened once and wrapped for trio.

trio has no unix-server helper, so unix fronts are made by hand: the socket is bound
under a umask so that it never exists, even for an instant, with a wider mode than asked
for; then it is chmod-ed and chown-ed explicitly.

A unix front's path is removed on close only while it is still this process's socket
file: a new instance started while this one drains (a restart overlapping a shutdown)
has taken the path over, and its socket must survive this one's exit.
"""

from __future__ import annotations

import errno
import grp
import os
import socket as stdlib_socket
import stat
from contextlib import suppress
from dataclasses import dataclass

import trio

from sockspy.core.serving.address import FdAddress, ListenAddress, TcpAddress, UnixAddress

# Bursts of CLI connections (compose, CI runners) must not be refused; the kernel caps
# this at net.core.somaxconn.
BACKLOG = 4096
SD_LISTEN_FDS_START = 3
FRONT_NAMES_ENV = "SOCKSPY_WORKER_FRONTS"  # set by `serve --workers`: "7=unix:///x;8=tcp://..."


class ListenError(Exception):
    """A front that cannot be opened; the message says what to do."""


@dataclass(slots=True)
class Front:
    """One listening socket and the address it is known by in the audit log."""

    name: str
    listener: trio.SocketListener
    kind: str  # "unix" or "tcp"
    unix_path: str | None = None  # None once removed
    unix_file: tuple[int, int, int] | None = None  # the socket file bound: `_identity`


async def open_fronts(
    addresses: list[ListenAddress], socket_mode: int = 0o660, socket_group: str | None = None
) -> list[Front]:
    fronts: list[Front] = []
    try:
        for address in addresses:
            if isinstance(address, UnixAddress):
                fronts.append(await _open_unix(address, socket_mode, socket_group))
            elif isinstance(address, TcpAddress):
                fronts.extend(await _open_tcp(address))
            else:
                fronts.extend(_open_inherited(address))
    except BaseException:
        await close_fronts(fronts)
        raise
    return fronts


async def close_fronts(fronts: list[Front]) -> None:
    """Close every front; a unix front's path first, so that no client finds it closed."""
    for front in fronts:
        _remove_own_path(front)
        with suppress(Exception):
            await front.listener.aclose()


def _remove_own_path(front: Front) -> None:
    """Unlink a unix front's path if it is still the file this front bound, once."""
    path, front.unix_path = front.unix_path, None
    if path is None:
        return
    with suppress(FileNotFoundError):
        if _identity(os.lstat(path)) == front.unix_file:
            os.unlink(path)


def _identity(st: os.stat_result) -> tuple[int, int, int]:
    """A file's identity: device and inode, and its change time, since a file system
    reuses a freed inode number at once (seen on ext4: the replaced socket's). Anything
    that changes the file after the bind (a chmod by hand) makes it look foreign: then it
    stays, and the next start replaces it as stale."""
    return (st.st_dev, st.st_ino, st.st_ctime_ns)


async def _open_unix(address: UnixAddress, mode: int, group: str | None) -> Front:
    path = address.path
    await _remove_stale_socket(path)
    gid = _resolve_group(group) if group is not None else None
    sock = trio.socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
    old_umask = os.umask(0o777 & ~mode)
    try:
        await sock.bind(path)
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot bind {address}: {exc.strerror}") from None
    finally:
        os.umask(old_umask)
    os.chmod(path, mode)
    if gid is not None:
        os.chown(path, -1, gid)
    sock.listen(BACKLOG)
    listener = trio.SocketListener(sock)
    return Front(str(address), listener, "unix", path, _identity(os.lstat(path)))


async def _remove_stale_socket(path: str) -> None:
    """Replace a socket file nobody answers on; refuse to steal a live one."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise ListenError(f"{path} exists and is not a socket; not replacing it")
    probe = trio.socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
    try:
        await probe.connect(path)
    except OSError as exc:
        if exc.errno not in (errno.ECONNREFUSED, errno.ENOENT):
            raise ListenError(f"cannot check {path}: {exc.strerror}") from None
    else:
        raise ListenError(f"{path} is in use: another server answers on it")
    finally:
        probe.close()
    os.unlink(path)


def _resolve_group(group: str) -> int:
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ListenError(f"unknown group {group!r}") from None


async def _open_tcp(address: TcpAddress) -> list[Front]:
    try:
        listeners = await trio.open_tcp_listeners(address.port, host=address.host, backlog=BACKLOG)
    except OSError as exc:
        raise ListenError(f"cannot listen on {address}: {exc.strerror or exc}") from None
    fronts = []
    for listener in listeners:
        host, port = listener.socket.getsockname()[:2]
        name = str(TcpAddress(host, port))
        fronts.append(Front(name, listener, "tcp"))
    return fronts


def systemd_fds() -> list[int]:
    """The sockets systemd passed to this process (sd_listen_fds semantics)."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return []
    try:
        count = int(os.environ.get("LISTEN_FDS", "0"))
    except ValueError:
        return []
    return list(range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count))


def front_names() -> dict[int, str]:
    """In a worker of `serve --workers`: the names of its inherited fronts."""
    names: dict[int, str] = {}
    for item in os.environ.get(FRONT_NAMES_ENV, "").split(";"):
        fd, sep, name = item.partition("=")
        if sep and fd.isdigit():
            names[int(fd)] = name
    return names


def inherited_name(fd: int) -> str:
    """A passed socket's name in the audit log: `fd://3`, or `fd://3 (NAME)` where NAME is
    its entry in LISTEN_FDNAMES (systemd's FileDescriptorName=, by default the unit's name).
    """
    given = front_names()  # a worker of `--workers`: the front as the supervisor opened it
    if fd in given:
        return given[fd]
    passed = systemd_fds()
    names = os.environ.get("LISTEN_FDNAMES", "").split(":") if passed else []
    index = fd - SD_LISTEN_FDS_START
    label = names[index] if fd in passed and index < len(names) and names[index] else None
    return f"fd://{fd}" + (f" ({label})" if label else "")


def _open_inherited(address: FdAddress) -> list[Front]:
    passed = systemd_fds()
    if address.fd is None:
        if not passed:
            raise ListenError("fd:// given but no sockets were passed (LISTEN_FDS/LISTEN_PID)")
        fds = passed
    else:
        fds = [address.fd]
    fronts = []
    for fd in fds:
        try:
            sock = stdlib_socket.socket(fileno=fd)
        except OSError as exc:
            raise ListenError(f"fd://{fd} is not a usable socket: {exc.strerror}") from None
        if sock.type != stdlib_socket.SOCK_STREAM:
            raise ListenError(f"fd://{fd} is not a stream socket")
        if not sock.getsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_ACCEPTCONN):
            raise ListenError(f"fd://{fd} is not a listening socket")
        sock.setblocking(False)
        kind = "unix" if sock.family == stdlib_socket.AF_UNIX else "tcp"
        name = inherited_name(fd)
        fronts.append(Front(name, trio.SocketListener(trio.socket.from_stdlib_socket(sock)), kind))
    return fronts
