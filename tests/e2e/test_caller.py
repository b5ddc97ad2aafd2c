"""Who called, as the audit record names them: the person behind sudo, the command line,
the parent process, through the real docker CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable

import pytest
from support.proxy import ProxyProcess

from sockspy.core.serving.identity import parse_login_uid

pytestmark = pytest.mark.e2e

StartProxy = Callable[..., ProxyProcess]


def test_the_record_names_the_person_behind_sudo_and_the_command(
    start_sockspy: StartProxy,
) -> None:
    # A root shell that a person (uid 1000) logged in to: the kernel keeps the login uid
    # through sudo and su. Root may set it once in a process that has none; the shell
    # says which login uid it ended up with, and the record must name that one.
    proxy = start_sockspy()
    docker = shutil.which("docker")
    assert docker is not None
    script = (
        "echo 1000 > /proc/self/loginuid 2>/dev/null; cat /proc/self/loginuid >&2; "
        f"exec {docker} -H {proxy.unix_host} ps -q"
    )
    result = subprocess.run(["sh", "-c", script], capture_output=True, timeout=60,
                            stdin=subprocess.DEVNULL, check=False)  # fmt: skip
    assert result.returncode == 0, result
    login_uid = parse_login_uid(result.stderr.decode().split()[0])
    listed: list[dict[str, object]] = []
    deadline = time.monotonic() + 5
    while not listed and time.monotonic() < deadline:
        listed = [r for r in proxy.exchanges() if r["endpoint"] == "container.list"]
        time.sleep(0.05)
    [record] = listed
    assert record["peer_uid"] == 0 and record["peer_user"] == "root"
    assert record.get("peer_login_uid") == login_uid  # 1000 where the kernel allowed it
    assert record["peer_cmdline"] == [docker, "-H", proxy.unix_host, "ps", "-q"]
    assert record["peer_exe"] == docker
    assert record["peer_ppid"] == os.getpid()  # sh exec'd docker: its parent is this test
    assert record["peer_parent_exe"] == os.readlink(f"/proc/{os.getpid()}/exe")
