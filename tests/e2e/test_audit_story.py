"""The audit trail answers "who did what", through the real CLI and daemon: what a create
asked for (without its secrets), who made the container an exec goes into, which container
a tcp client is, a `sudo docker run`'s person, and an interactive exec's transcript."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support.cli import Docker, docker, docker_env
from support.proxy import ProxyProcess, free_tcp_port

from sockspy.core.deciding.client import parse_login_uid

pytestmark = pytest.mark.e2e

StartProxy = Callable[..., ProxyProcess]


def records_until(
    proxy: ProxyProcess, found: Callable[[list[dict[str, object]]], bool], seconds: float = 5
) -> list[dict[str, object]]:
    """The audit records, once `found` says they hold what the test waits for."""
    deadline = time.monotonic() + seconds
    while True:
        records = proxy.audit_records()
        if found(records) or time.monotonic() > deadline:
            return records
        time.sleep(0.05)


def of(
    records: list[dict[str, object]], endpoint: str, event: str = "exchange"
) -> list[dict[str, object]]:
    return [r for r in records if r.get("event") == event and r.get("endpoint") == endpoint]


def test_a_privileged_create_is_summarised_without_its_env_values(
    start_sockspy: StartProxy, test_image: str, new_name: Callable[[], str]
) -> None:
    # `docker create`, not run: a privileged container cannot start in this sandbox (runc
    # may not apply every capability), and the record is the create's either way.
    proxy = start_sockspy()
    name = new_name()
    created = docker(
        proxy.unix_host, "create", "--name", name, "--privileged", "-v", "/:/host",
        "-e", "API_TOKEN=hunter2-secret", "--label", "team=a", test_image, "sleep", "600",
    )  # fmt: skip
    container_id = created.stdout.decode().strip()
    records = records_until(proxy, lambda rs: bool(of(rs, "container.create")))
    [create] = of(records, "container.create")
    summary = create["summary"]
    assert isinstance(summary, dict)
    assert summary["image"] == test_image and summary["command"] == ["sleep", "600"]
    assert summary["privileged"] is True and summary["binds"] == ["/:/host"]
    assert summary["env"] == ["API_TOKEN"] and summary["labels"] == {"team": "a"}
    assert summary["run"] == (
        f"docker run --name {name} --privileged -v /:/host -e API_TOKEN --label team=a "
        f"{test_image} sleep 600"
    )
    assert create["made"] == {"kind": "container", "id": container_id, "name": name}
    assert "hunter2-secret" not in proxy.audit_path.read_text()


def test_an_exec_into_a_container_names_who_created_the_container(
    start_sockspy: StartProxy, test_image: str, new_name: Callable[[], str]
) -> None:
    proxy = start_sockspy()
    name = new_name()
    run = docker(proxy.unix_host, "run", "-d", "--name", name, test_image, "sleep", "600")
    container_id = run.stdout.decode().strip()
    docker(proxy.tcp_host, "exec", name, "true")
    records = records_until(proxy, lambda rs: bool(of(rs, "exec.start")))
    [create] = of(records, "container.create")
    # The exec came over another front, on another connection: its record names the
    # container and who created it, with the creating record's id.
    [exec_create] = of(records, "exec.create")
    assert exec_create["object"] == {"kind": "container", "id": container_id, "name": name}
    created_by = exec_create["created_by"]
    assert isinstance(created_by, dict)
    assert created_by["record_id"] == create["record_id"]
    assert created_by["front"] == create["front"] and created_by["peer_uid"] == os.getuid()
    assert exec_create["front"] != create["front"]
    [exec_start] = of(records, "exec.start")
    made = exec_create["made"]
    assert isinstance(made, dict)
    assert exec_start["object"] == {"kind": "exec", "id": made["id"], "parent": name}


def test_lineage_survives_a_restart_of_sockspy(
    start_sockspy: StartProxy, test_image: str, new_name: Callable[[], str]
) -> None:
    first = start_sockspy()
    name = new_name()
    docker(first.unix_host, "create", "--name", name, test_image, "true")
    first.stop()
    # The second run appends to the first one's log, and rebuilds from it what it made.
    again = start_sockspy("--log-file", str(first.audit_path))
    docker(again.unix_host, "inspect", name)
    deadline = time.monotonic() + 5
    while True:
        records = [json.loads(line) for line in first.audit_path.read_text().splitlines()]
        inspects = [r for r in of(records, "container.inspect") if "object" in r]
        if inspects or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    [create] = of(records, "container.create")
    assert inspects and inspects[-1]["created_by"]["record_id"] == create["record_id"]
    assert inspects[-1]["record_id"].split("-")[0] != create["record_id"].split("-")[0]


def test_a_client_in_a_container_calling_over_its_network_is_named(
    start_sockspy: StartProxy, direct: Docker, test_image: str, new_name: Callable[[], str]
) -> None:
    name = new_name()
    direct("run", "-d", "--name", name, test_image, "sleep", "600")
    route = direct("exec", name, "ip", "route").stdout.decode()  # "default via GW dev eth0"
    gateway = route.split("default via ", 1)[1].split()[0]  # the host, on that network
    port = free_tcp_port()
    proxy = start_sockspy("-H", f"tcp://{gateway}:{port}", "--insecure-plain-tcp")
    container_id = direct("inspect", "-f", "{{.Id}}", name).stdout.decode().strip()
    fetched = direct(
        "exec", name, "wget", "-q", "-O", "-", f"http://{gateway}:{port}/v1.41/containers/json"
    )
    assert json.loads(fetched.stdout)  # the container's own listing, through sockspy
    records = records_until(proxy, lambda rs: bool(of(rs, "container.list")))
    [listing] = of(records, "container.list")
    assert listing["client_container"] == name
    assert listing["client_container_id"] == container_id
    address = (
        direct("inspect", "-f", "{{.NetworkSettings.IPAddress}}", name).stdout.decode().strip()
    )
    assert listing["client_ip"] == address


def test_the_record_of_a_sudo_docker_run_names_the_person(
    start_sockspy: StartProxy, test_image: str
) -> None:
    sudo, cli = shutil.which("sudo"), shutil.which("docker")
    assert sudo is not None and cli is not None, "sudo is installed by .ci/run"
    proxy = start_sockspy()
    # A session that a person (uid 1000) logged in to, running sudo as a person does.
    script = (
        "echo 1000 > /proc/self/loginuid 2>/dev/null; cat /proc/self/loginuid >&2; "
        f"exec {sudo} -n {cli} -H {proxy.unix_host} run --rm {test_image} true"
    )
    result = subprocess.run(["sh", "-c", script], capture_output=True, timeout=120,
                            stdin=subprocess.DEVNULL, env=docker_env(proxy.unix_host),
                            check=False)  # fmt: skip
    assert result.returncode == 0, result
    login_uid = parse_login_uid(result.stderr.decode().split()[0])
    records = records_until(proxy, lambda rs: bool(of(rs, "container.create")))
    [create] = of(records, "container.create")
    assert create["peer_uid"] == 0 and create["peer_parent_exe"] == os.path.realpath(sudo)
    assert create.get("peer_login_uid") == login_uid
    if login_uid is not None:
        import pwd

        try:
            person = pwd.getpwuid(login_uid).pw_name
        except KeyError:
            person = None
        assert create.get("peer_login_user") == person
    assert create["summary"]["run"].endswith(f"{test_image} true")  # type: ignore[index]


RECORDING_POLICY = """
[[rules]]
name = "exec-recorded"
action = "allow"
endpoints = ["exec.start"]
record = "all"
record_required = true

[[rules]]
name = "ping-quiet"
action = "allow"
endpoints = ["system.ping"]
audit = "none"

[[rules]]
name = "everything-else"
action = "allow"
"""


def run_in_pty(argv: list[str], env: dict[str, str], typed: list[bytes]) -> tuple[int, bytes]:
    """Run `argv` on a new pseudo-terminal, type `typed` (one line once output settles),
    and return its exit status and everything it printed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its terminal
        os.execvpe(argv[0], argv, env)
    output = bytearray()
    pending = list(typed)
    deadline = time.monotonic() + 60
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed its terminal
                break
            if not chunk:
                break
            output += chunk
            quiet_since = time.monotonic()
        elif pending and time.monotonic() - quiet_since > 0.5:
            os.write(fd, pending.pop(0))
            quiet_since = time.monotonic()
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), bytes(output)


def test_an_interactive_exec_is_recorded_as_an_asciicast_with_its_exit_code(
    start_sockspy: StartProxy,
    direct: Docker,
    test_image: str,
    new_name: Callable[[], str],
    tmp_path: Path,
) -> None:
    policy = tmp_path / "recording.toml"
    policy.write_text(RECORDING_POLICY)
    transcripts = tmp_path / "transcripts"
    proxy = start_sockspy("--transcript-dir", str(transcripts), policy=str(policy))
    name = new_name()
    direct("run", "-d", "--name", name, test_image, "sleep", "600")
    cli = shutil.which("docker")
    assert cli is not None
    status, shown = run_in_pty(
        [cli, "exec", "-it", name, "sh"],
        docker_env(proxy.unix_host),
        [b"echo sum-$((6*7))\r", b"exit 5\r"],
    )
    assert status == 5, shown
    assert b"sum-42" in shown

    records = records_until(proxy, lambda rs: bool(of(rs, "exec.start", "session_end")))
    [end] = of(records, "exec.start", "session_end")
    assert end["exit_code"] == 5 and end["exec_tty"] is True and end["exec_command"] == ["sh"]
    assert not of(records, "system.ping")  # audit = "none": the CLI's pings left no record
    assert [r for r in records if r.get("event") == "connection"]
    path = Path(str(end["transcript"]))
    assert path.parent == transcripts and path.name == f"{end['record_id']}.cast"
    assert end["transcript_bytes"] > 0  # type: ignore[operator]

    # Read it back as an asciicast v2 reader does: a header, then [time, code, text] events.
    header, *events = [json.loads(line) for line in path.read_text().splitlines()]
    assert header["version"] == 2 and header["width"] > 0 and header["height"] > 0
    times = [event[0] for event in events]
    assert times == sorted(times)
    output = "".join(text for _, code, text in events if code == "o")
    typed = "".join(text for _, code, text in events if code == "i")
    assert "sum-42" in output  # what the shell printed
    assert "echo sum-$((6*7))" in typed and "exit 5" in typed  # what the person typed
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_a_session_that_must_be_recorded_is_refused_when_it_cannot_be(
    start_sockspy: StartProxy,
    direct: Docker,
    test_image: str,
    new_name: Callable[[], str],
    tmp_path: Path,
) -> None:
    policy = tmp_path / "recording.toml"
    policy.write_text(RECORDING_POLICY)
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    proxy = start_sockspy("--transcript-dir", str(blocked / "transcripts"), policy=str(policy))
    name = new_name()
    direct("run", "-d", "--name", name, test_image, "sleep", "600")
    result = docker(proxy.unix_host, "exec", name, "sh", "-c", "touch /ran", check=False)
    assert result.returncode != 0
    assert b"403" in result.stderr, result.stderr
    assert direct("exec", name, "ls", "/ran", check=False).returncode != 0  # it never ran
    records = records_until(proxy, lambda rs: bool(of(rs, "exec.start")))
    [start] = of(records, "exec.start")
    assert (start["decision"], start["code"], start["status"]) == (
        "deny", "transcript_unavailable", 403,
    )  # fmt: skip
    assert "must be recorded" in str(start["reason"])


def _exec(unix_path: str, container: str, created_tty: bool, started_tty: bool) -> bytes:
    """An exec of `echo framed-out` created with one Tty and started with another, raw;
    what the client got after the 101."""
    create = json.dumps({"Cmd": ["echo", "framed-out"], "AttachStdout": True,
                         "AttachStderr": True, "Tty": created_tty}).encode()  # fmt: skip
    start = json.dumps({"Detach": False, "Tty": started_tty}).encode()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(unix_path)
        sock.sendall(b"POST /v1.41/containers/%s/exec HTTP/1.1\r\nHost: d\r\nContent-Type: "
                     b"application/json\r\nContent-Length: %d\r\n\r\n%s"
                     % (container.encode(), len(create), create))  # fmt: skip
        answer = b""
        while b"}" not in answer:
            answer += sock.recv(65536)
        exec_id = json.loads(answer.partition(b"\r\n\r\n")[2])["Id"]
        head = (
            b"POST /v1.41/exec/%s/start HTTP/1.1\r\nHost: d\r\nContent-Type: "
            b"application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
        ) % exec_id.encode()
        sock.sendall(head + b"Content-Length: %d\r\n\r\n" % len(start) + start)
        got = b""
        while chunk := sock.recv(65536):
            got += chunk
    return got.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize(("created_tty", "started_tty"), [(True, False), (False, True)])
def test_a_transcript_decodes_an_exec_as_the_daemon_framed_it(
    created_tty: bool, started_tty: bool, start_sockspy: StartProxy, direct: Docker,
    test_image: str, new_name: Callable[[], str], tmp_path: Path,
) -> None:  # fmt: skip
    """dockerd frames an exec's output by its start's Tty, not by the exec's own: a
    transcript decoded by the exec's would hold stdcopy headers, or lose the output."""
    policy = tmp_path / "recording.toml"
    policy.write_text(RECORDING_POLICY + '\n[[rules]]\nname = "rest"\naction = "allow"\n')
    transcripts = tmp_path / "transcripts"
    proxy = start_sockspy("--transcript-dir", str(transcripts), policy=str(policy))
    name = new_name()
    direct("run", "-d", "--name", name, test_image, "sleep", "600")
    got = _exec(str(proxy.unix_path), name, created_tty, started_tty)
    framed = got.startswith(b"\x01\x00\x00\x00")
    assert framed is not started_tty, got  # the daemon framed it by the start's Tty
    records = records_until(proxy, lambda rs: bool(of(rs, "exec.start", "session_end")))
    [end] = of(records, "exec.start", "session_end")
    lines = Path(str(end["transcript"])).read_text().splitlines()
    events = [json.loads(line) for line in lines[1:]]  # after the asciicast header
    output = "".join(text for _, code, text in events if code == "o")
    assert output.rstrip("\r\n") == "framed-out", output
