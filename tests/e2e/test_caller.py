"""Who called, as the audit record names them: the person behind sudo, the command line,
the parent process, through the real docker CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable

import pytest
from support.cli import Docker, docker
from support.proxy import ProxyProcess

from sockspy.core.deciding.client import parse_login_uid

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
    assert record["peer_exe"] == os.path.realpath(docker)  # the kernel's: links resolved
    assert record["peer_ppid"] == os.getpid()  # sh exec'd docker: its parent is this test
    assert record["peer_parent_exe"] == os.readlink(f"/proc/{os.getpid()}/exe")


def wait_for(proxy: ProxyProcess, event: str, endpoint: str) -> list[dict[str, object]]:
    deadline = time.monotonic() + 5
    while True:
        found = [
            r for r in proxy.audit_records()
            if r.get("event") == event and r.get("endpoint") == endpoint
        ]  # fmt: skip
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_an_exec_session_ends_with_its_command_and_exit_code(
    start_sockspy: StartProxy, direct: Docker, test_image: str, new_name: Callable[[], str]
) -> None:
    name = new_name()
    direct("run", "-d", "--name", name, test_image, "sleep", "600")
    proxy = start_sockspy()
    result = docker(proxy.unix_host, "exec", name, "sh", "-c", "echo out; exit 3", check=False)
    assert (result.returncode, result.stdout) == (3, b"out\n")
    [start] = wait_for(proxy, "session_start", "exec.start")
    [end] = wait_for(proxy, "session_end", "exec.start")
    assert start["kind"] == end["kind"] == "hijack"
    assert start["object"] == end["object"]
    assert end["exec_command"] == ["sh", "-c", "echo out; exit 3"]
    assert (end["exit_code"], end["running"], end["exec_tty"]) == (3, False, False)
    inspect = direct("inspect", "-f", "{{.Id}}", name).stdout.decode().strip()
    assert end["container_id"] == inspect
    assert isinstance(end["daemon_to_client_bytes"], int) and end["daemon_to_client_bytes"] >= 4


def test_a_followed_log_is_a_session(
    start_sockspy: StartProxy, direct: Docker, test_image: str, new_name: Callable[[], str]
) -> None:
    name = new_name()
    direct("run", "--name", name, test_image, "echo", "hello")
    proxy = start_sockspy()
    result = docker(proxy.unix_host, "logs", "-f", name)  # ends: the container has exited
    assert result.stdout == b"hello\n"
    [start] = wait_for(proxy, "session_start", "container.logs")
    [end] = wait_for(proxy, "session_end", "container.logs")
    cid = direct("inspect", "-f", "{{.Id}}", name).stdout.decode().strip()  # the CLI asks by id
    assert (start["kind"], start["object"], end["object"]) == ("stream", cid, cid)
    assert isinstance(end["daemon_to_client_bytes"], int) and end["daemon_to_client_bytes"] > 0
