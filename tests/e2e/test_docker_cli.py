"""The real docker CLI through sockspy, on the unix front and the tcp front.

Each test drives one kind of exchange the CLI really makes (plain requests, hijacked
attach/exec streams with half-close, long-lived streams, large chunked uploads and
downloads) and checks what the user would see. Setup, checks and cleanup go straight
to the daemon (``direct``), so a proxy bug cannot hide itself.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import select
import subprocess
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support.cli import Docker, docker_env, docker_popen, stop_process
from support.daemon import DockerDaemon
from support.http import connect
from support.proxy import ProxyProcess
from support.streams import LineReader

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024


def test_version_info_images_and_ps_show_the_daemons_data(
    via_proxy: Docker, direct: Docker, test_image: str, new_name: Callable[[], str]
) -> None:
    server_version = "{{.Server.Version}} {{.Server.APIVersion}}"
    assert (
        via_proxy("version", "--format", server_version).stdout
        == direct("version", "--format", server_version).stdout
    )
    assert b"Server:" in via_proxy("version").stdout

    assert (
        via_proxy("info", "--format", "{{.ID}}").stdout
        == direct("info", "--format", "{{.ID}}").stdout
    )
    assert b"Containers:" in via_proxy("info").stdout

    images = via_proxy("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert test_image.encode() in images

    name = new_name()
    direct("create", "--name", name, test_image, "true")
    names = via_proxy("ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert name.encode() in names


def test_run_with_stdin_pipes_input_through_and_prints_the_output(
    via_proxy: Docker, test_image: str
) -> None:
    result = via_proxy("run", "--rm", "-i", test_image, "cat", input=b"hi\n")
    assert result.stdout == b"hi\n"


def test_run_with_a_tty_shows_the_containers_output_on_the_terminal(
    sockspy: ProxyProcess, front: str, test_image: str
) -> None:
    master, slave = os.openpty()
    proc = subprocess.Popen(
        ["docker", "run", "--rm", "-t", test_image, "sh", "-c", "echo tty; tty"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=docker_env(sockspy.host(front)),
        start_new_session=True,
    )
    os.close(slave)
    output = b""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every holder of the slave side is gone
                    break
                if not chunk:
                    break
                output += chunk
            elif proc.poll() is not None:
                break
        assert proc.wait(timeout=30) == 0, output
    finally:
        os.close(master)
        stop_process(proc)
    # Both the container's pty and ours turn "\n" into "\r\n": compare without "\r".
    lines = output.replace(b"\r", b"").split(b"\n")
    assert b"tty" in lines, output
    assert any(line.startswith(b"/dev/pts/") for line in lines), output


def test_exec_returns_all_output_written_after_stdin_eof(
    via_proxy: Docker, direct: Docker, test_image: str, new_name: Callable[[], str]
) -> None:
    # The CLI half-closes after stdin EOF; the output only starts a second later. A
    # proxy that closes on the first EOF, or drops the half-close, loses it or hangs.
    name = new_name()
    direct("run", "-d", "--name", name, test_image, "sleep", "600")
    payload = secrets.token_bytes(4 * MiB)
    result = via_proxy(
        "exec", "-i", name, "sh", "-c", "cat > /tmp/in; sleep 1; cat /tmp/in",
        input=payload, timeout=120,
    )  # fmt: skip
    assert len(result.stdout) == len(payload)
    assert hashlib.sha256(result.stdout).digest() == hashlib.sha256(payload).digest()


def test_attach_carries_input_to_a_running_container_and_its_output_back(
    sockspy: ProxyProcess,
    front: str,
    direct: Docker,
    test_image: str,
    new_name: Callable[[], str],
) -> None:
    name = new_name()
    direct(
        "run", "-d", "-i", "--name", name, test_image,
        "sh", "-c", 'echo ready; while read line; do echo "got $line"; done',
    )  # fmt: skip
    attach = docker_popen(
        sockspy.host(front), "attach", name,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert attach.stdin is not None and attach.stdout is not None
        lines = LineReader(attach.stdout)
        attach.stdin.write(b"ping\n")
        attach.stdin.flush()
        lines.wait_for(lambda line: line == b"got ping\n", timeout=30)
        attach.stdin.write(b"pong\n")
        attach.stdin.flush()
        lines.wait_for(lambda line: line == b"got pong\n", timeout=30)
        # Stopping the container ends the attach session cleanly from the daemon side.
        direct("kill", name)
        attach.wait(timeout=30)
    finally:
        stop_process(attach)


def test_attach_streams_output_of_a_ticking_container(
    sockspy: ProxyProcess,
    front: str,
    direct: Docker,
    test_image: str,
    new_name: Callable[[], str],
) -> None:
    name = new_name()
    direct(
        "run", "-d", "--name", name, test_image,
        "sh", "-c", "while true; do echo tick; sleep 0.2; done",
    )  # fmt: skip
    attach = docker_popen(
        sockspy.host(front), "attach", "--no-stdin", name,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert attach.stdout is not None
        lines = LineReader(attach.stdout)
        for _ in range(3):
            lines.wait_for(lambda line: line == b"tick\n", timeout=30)
        direct("stop", "-t", "1", name)
        attach.wait(timeout=30)
    finally:
        stop_process(attach)


def test_logs_follow_delivers_a_new_line_within_a_second(
    sockspy: ProxyProcess,
    front: str,
    direct: Docker,
    test_image: str,
    new_name: Callable[[], str],
) -> None:
    # The container stamps its line with /proc/uptime, the host's CLOCK_BOOTTIME, so the
    # delay is measured from the write, whatever the trigger (a docker exec) costs.
    name = new_name()
    script = (
        "echo start; while [ ! -e /tmp/go ]; do sleep 0.05; done; "
        'read up rest < /proc/uptime; echo "marker $up"; sleep 600'
    )
    direct("run", "-d", "--name", name, test_image, "sh", "-c", script)
    logs = docker_popen(
        sockspy.host(front), "logs", "-f", name, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert logs.stdout is not None
        lines = LineReader(logs.stdout)
        lines.wait_for(lambda line: line == b"start\n", timeout=30)
        direct("exec", name, "touch", "/tmp/go")
        line, arrived = lines.wait_for(lambda line: line.startswith(b"marker "), timeout=30)
        written = float(line.split()[1])
        # /proc/uptime has centisecond resolution: allow for it.
        assert arrived - written < 1.0 + 0.01, f"line arrived {arrived - written:.3f} s late"
        assert logs.poll() is None, "logs -f ended while the container still runs"
    finally:
        stop_process(logs)


def test_events_stream_delivers_an_event_for_a_new_container(
    sockspy: ProxyProcess,
    front: str,
    direct: Docker,
    test_image: str,
    new_name: Callable[[], str],
) -> None:
    name = new_name()
    since = str(int(time.time()) - 1)
    events = docker_popen(
        sockspy.host(front), "events", "--since", since, "--format", "{{json .}}",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert events.stdout is not None
        lines = LineReader(events.stdout)
        time.sleep(0.5)  # let the stream open; --since covers us if it is slower
        direct("create", "--name", name, test_image, "true")

        def is_create_of_name(line: bytes) -> bool:
            event = json.loads(line)
            attributes = event.get("Actor", {}).get("Attributes", {})
            return bool(event.get("Action") == "create" and attributes.get("name") == name)

        lines.wait_for(is_create_of_name, timeout=30)
        assert events.poll() is None, "the event stream ended by itself"
    finally:
        stop_process(events)


def test_legacy_build_with_a_64_mib_context_succeeds(
    via_proxy: Docker, direct: Docker, test_image: str, tmp_path: Path
) -> None:
    context = tmp_path / "context"
    context.mkdir()
    blob = os.urandom(64 * MiB + 12345)
    (context / "big.bin").write_bytes(blob)
    (context / "Dockerfile").write_text(
        f"FROM {test_image}\nCOPY big.bin /big.bin\nRUN sha256sum /big.bin\n"
    )
    tag = f"sockspy-e2e-build-{secrets.token_hex(4)}:latest"
    try:
        result = via_proxy(
            "build", "-t", tag, str(context), env={"DOCKER_BUILDKIT": "0"}, timeout=300
        )
        assert hashlib.sha256(blob).hexdigest().encode() in result.stdout
        direct("image", "inspect", tag)
    finally:
        direct("rmi", "-f", tag, check=False)


def test_cp_copies_a_file_into_a_container_and_back_unchanged(
    via_proxy: Docker,
    direct: Docker,
    test_image: str,
    new_name: Callable[[], str],
    tmp_path: Path,
) -> None:
    name = new_name()
    direct("create", "--name", name, test_image, "true")
    source = tmp_path / "in.bin"
    source.write_bytes(os.urandom(8 * MiB + 7))
    via_proxy("cp", str(source), f"{name}:/tmp/in.bin")
    back = tmp_path / "back.bin"
    via_proxy("cp", f"{name}:/tmp/in.bin", str(back))
    assert back.read_bytes() == source.read_bytes()


def _members(tar: bytes) -> list[tuple[str, str, int, str]]:
    """Each member of a tar: name, type, size and the hash of its data (times left out)."""
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        return [
            (m.name, m.type.decode(), m.size,
             hashlib.sha256(archive.extractfile(m).read()).hexdigest() if m.isfile() else "")
            for m in archive.getmembers()
        ]  # fmt: skip


def test_save_through_the_proxy_is_byte_identical_and_loads_back(
    via_proxy: Docker, direct: Docker, test_image: str, docker_daemon: DockerDaemon
) -> None:
    saved = via_proxy("save", test_image).stdout
    reference = direct("save", test_image).stdout
    if docker_daemon.engine < (26, 0):
        assert saved == reference
    else:  # engines from 26 stamp each save's tar with its time (checked on 26.1, 28.5)
        assert _members(saved) == _members(reference)
    loaded = via_proxy("load", input=saved)
    assert f"Loaded image: {test_image}".encode() in loaded.stdout


EXCHANGE_FIELDS = {
    "event", "timestamp", "conn_id", "request_no", "front", "method", "target",
    "api_version", "endpoint", "decision", "reason", "status", "request_body_bytes",
    "response_body_bytes", "duration_ms", "upgraded",
}  # fmt: skip


def test_audit_log_names_every_exchange_and_each_hijacked_session(
    sockspy: ProxyProcess,
    front: str,
    via_proxy: Docker,
    direct: Docker,
    test_image: str,
    new_name: Callable[[], str],
) -> None:
    assert via_proxy("run", "--rm", "-i", test_image, "cat", input=b"hi\n").stdout == b"hi\n"
    name = new_name()
    direct("run", "-d", "--name", name, test_image, "sleep", "600")
    payload = secrets.token_bytes(100_000)
    out = via_proxy("exec", "-i", name, "cat", input=payload).stdout
    assert out == payload
    sockspy.stop()  # flushes the log; the records of every connection are written
    records = sockspy.audit_records()
    exchanges = [r for r in records if r.get("event") == "exchange"]

    for record in exchanges:
        assert record.keys() >= EXCHANGE_FIELDS, record
        assert record["decision"] == "allow", record
        if front == "unix":
            assert record["peer_uid"] == os.getuid(), record
            assert record["peer_pid"] > 0, record
        else:
            assert record["client_ip"] == "127.0.0.1", record
    keys = [(r["conn_id"], r["request_no"]) for r in exchanges]
    assert len(keys) == len(set(keys)), "two exchange records for one request"

    by_endpoint: dict[str, list[dict[str, object]]] = {}
    for record in exchanges:
        by_endpoint.setdefault(record["endpoint"], []).append(record)
    for endpoint in ("system.ping", "container.create", "container.start", "container.wait"):
        assert endpoint in by_endpoint, sorted(by_endpoint)
    assert by_endpoint["container.create"][0]["status"] == 201
    assert [r["upgraded"] for r in by_endpoint["container.attach"]] == [True]
    assert [r["upgraded"] for r in by_endpoint["exec.start"]] == [True]
    assert by_endpoint["exec.create"][0]["status"] == 201

    exec_start = by_endpoint["exec.start"][0]
    sessions = [
        r
        for r in records
        if r.get("event") == "session_end"
        and (r["conn_id"], r["request_no"]) == (exec_start["conn_id"], exec_start["request_no"])
    ]
    assert len(sessions) == 1, records
    assert sessions[0]["endpoint"] == "exec.start"
    assert sessions[0]["client_to_daemon_bytes"] >= len(payload)
    assert sessions[0]["daemon_to_client_bytes"] >= len(payload)

    conn_ids = {r["conn_id"] for r in exchanges}
    closes = [r for r in records if r.get("event") == "connection"]
    for conn_id in conn_ids:
        assert [r["conn_id"] for r in closes].count(conn_id) == 1, conn_id


def test_audit_log_has_exactly_one_exchange_per_request_on_a_kept_alive_connection(
    sockspy: ProxyProcess, front: str
) -> None:
    conn = connect(sockspy.host(front))
    try:
        for method, target in [
            ("GET", "/_ping"),
            ("GET", "/v1.41/version"),
            ("HEAD", "/_ping"),
            ("GET", "/v1.41/containers/json?all=1"),
        ]:
            conn.request(method, target)
            response = conn.getresponse()
            response.read()
            assert response.status == 200, (target, response.status)
    finally:
        conn.close()
    sockspy.stop()
    exchanges = [r for r in sockspy.audit_records() if r.get("event") == "exchange"]
    assert [(r["method"], r["endpoint"]) for r in exchanges] == [
        ("GET", "system.ping"),
        ("GET", "system.version"),
        ("HEAD", "system.ping"),
        ("GET", "container.list"),
    ]
    assert len({r["conn_id"] for r in exchanges}) == 1
    numbers = [r["request_no"] for r in exchanges]
    assert numbers == list(range(numbers[0], numbers[0] + 4))
