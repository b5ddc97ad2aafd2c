"""sd_notify(3) in a few lines: tell systemd (Type=notify) that sockspy is ready or stopping.

systemd passes the path of a datagram socket in $NOTIFY_SOCKET; a leading '@' means
Linux's abstract namespace (the name starts with a NUL byte instead). Each message is
newline-separated KEY=VALUE assignments: READY=1 once every front listens, STOPPING=1
when shutdown begins, RELOADING=1 (with MONOTONIC_USEC) then READY=1 around a SIGHUP
reload. Without $NOTIFY_SOCKET (not under systemd, or not Type=notify) this does
nothing. A failure to notify is reported to the caller, never raised: systemd then times
the start out, which says more than a crash would.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping


def notify(state: str, env: Mapping[str, str] | None = None) -> bool:
    """Send `state` (e.g. "READY=1") to $NOTIFY_SOCKET; False if unset or unreachable."""
    path = (os.environ if env is None else env).get("NOTIFY_SOCKET")
    if not path or path[0] not in "/@":
        return False
    address = "\0" + path[1:] if path.startswith("@") else path
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(1.0)  # a stalled manager must not hold up the event loop
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError:
        return False
    return True
