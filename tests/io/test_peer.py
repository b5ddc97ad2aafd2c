"""A unix peer is named by what /proc says of it, read once when its connection is accepted."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from sockspy.core.deciding.client import parse_login_uid
from sockspy.io.peer import identify
from sockspy.io.sockstream import SockStream


def test_a_unix_peer_is_named_by_its_process() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client = identify(SockStream(ours), "unix:///test.sock")
    finally:
        ours.close()
        theirs.close()
    assert client.peer is not None and client.peer.pid == os.getpid()  # the peer is us
    process = client.process
    assert process is not None
    argv = Path("/proc/self/cmdline").read_bytes().split(b"\0")[:-1]
    assert process.cmdline == tuple(a.decode() for a in argv)[: len(process.cmdline)]
    assert process.ppid == os.getppid()
    assert process.parent_exe == os.readlink(f"/proc/{os.getppid()}/exe")
    assert process.login_uid == parse_login_uid(Path("/proc/self/loginuid").read_text())
    assert client.fields()["peer_ppid"] == os.getppid()


def test_a_peer_that_has_gone_leaves_its_facts_empty() -> None:
    from sockspy.io.peer import _process_facts

    assert _process_facts(0, 0) == (None, None, None)
    exe, container, process = _process_facts(2**22 + 12345, 0)  # no such pid
    assert (exe, container) == (None, None)
    assert process is not None and process.cmdline == () and process.ppid is None
