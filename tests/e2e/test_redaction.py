"""Redacted inspect through the real CLI and docker-py: env values and mount sources are
gone, every other field is the daemon's (compared as JSON with a direct inspect), and
both clients still parse the answer."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.cli import Docker, docker
from support.daemon import DockerDaemon
from support.http import connect
from support.proxy import ProxyProcess

pytestmark = pytest.mark.e2e

StartProxy = Callable[..., ProxyProcess]
SECRET = f"hunter2-{secrets.token_hex(4)}"


@pytest.fixture
def redacting(start_sockspy: StartProxy, tmp_path: Path) -> ProxyProcess:
    policy = tmp_path / "redact.toml"
    policy.write_text(
        '[[profiles]]\nname = "dashboard"\nuids = [0]\nredact = ["env", "mounts"]\n\n'
        '[[rules]]\nname = "everything"\naction = "allow"\n'
    )
    return start_sockspy(policy=str(policy))


def without_redacted_fields(inspect: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(inspect))
    out["Config"]["Env"] = None
    out["HostConfig"]["Binds"] = None
    out["HostConfig"]["LogConfig"]["Config"] = None
    for mount in out.get("Mounts") or []:
        mount["Source"] = None
    for key in ("ResolvConfPath", "HostnamePath", "HostsPath", "LogPath"):
        out[key] = None
    out["GraphDriver"]["Data"] = None
    return dict(out)


def test_a_redacted_inspect_keeps_every_other_field_and_both_clients_parse_it(
    redacting: ProxyProcess,
    direct: Docker,
    test_image: str,
    new_name: Callable[[], str],
    tmp_path: Path,
) -> None:
    name = new_name()
    hostdir = tmp_path / "secret-dir"
    hostdir.mkdir()
    direct("run", "-d", "--name", name, "--network", "none", "-e", f"DB_PASSWORD={SECRET}",
           "-v", f"{hostdir}:/data:ro", test_image, "sleep", "300")  # fmt: skip
    [plain] = json.loads(direct("inspect", name).stdout)
    raw = docker(redacting.unix_host, "inspect", name).stdout
    assert SECRET.encode() not in raw and str(hostdir).encode() not in raw
    [redacted] = json.loads(raw)
    assert "DB_PASSWORD" in redacted["Config"]["Env"]
    assert redacted["HostConfig"]["Binds"] == [":/data:ro"]
    assert [m["Source"] for m in redacted["Mounts"]] == [""]
    assert without_redacted_fields(redacted) == without_redacted_fields(plain)

    listed = docker(redacting.unix_host, "ps", "--filter", f"name={name}", "--format", "{{json .}}")
    assert str(hostdir).encode() not in listed.stdout and name.encode() in listed.stdout

    docker_py = pytest.importorskip("docker")
    client = docker_py.DockerClient(base_url=redacting.unix_host)
    try:
        container = client.containers.get(name)
        assert container.name == name and container.status == "running"
        assert all(SECRET not in e for e in container.attrs["Config"]["Env"])
        assert [c.name for c in client.containers.list(filters={"name": name})] == [name]
    finally:
        client.close()

    redacting.stop()
    inspects = [
        r for r in redacting.audit_records()
        if r.get("event") == "exchange" and r.get("endpoint") == "container.inspect"
    ]  # fmt: skip
    assert inspects and all(r["redacted"] == ["env", "mounts"] for r in inspects)


def test_no_answer_a_redacting_client_may_get_holds_a_secret_or_a_host_path(
    redacting: ProxyProcess, direct: Docker, test_image: str, new_name: Callable[[], str],
    tmp_path: Path,
) -> None:  # fmt: skip
    """Each way past the container inspect's redaction, tried on the real daemon: its log
    driver options, the daemon's own files, an image's ENV, a volume's options, a process
    listing that prints environments, an image's history."""
    root = direct("info", "--format", "{{.DockerRootDir}}").stdout.decode().strip()
    name, image, volume = new_name(), new_name(), new_name()
    hostdir = tmp_path / "volume-source"
    hostdir.mkdir()
    direct("run", "-d", "--name", name, "--network", "none", "-e", f"DB_PASSWORD={SECRET}",
           test_image, "sleep", "300")  # fmt: skip
    logged = new_name()
    direct("create", "--name", logged, "--log-driver", "splunk", "--log-opt",
           f"splunk-token={SECRET}", "--log-opt", "splunk-url=http://127.0.0.1:9",
           "--log-opt", "splunk-verify-connection=false", test_image, "true")  # fmt: skip
    dockerfile = f"FROM {test_image}\nENV API_TOKEN={SECRET}\n".encode()
    direct("build", "-q", "-t", image, "-", input=dockerfile, env={"DOCKER_BUILDKIT": "0"})
    direct("volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt",
           f"device={hostdir}", volume)  # fmt: skip
    host = redacting.unix_host
    try:
        for args in (("inspect", name), ("inspect", logged), ("image", "inspect", image),
                     ("volume", "inspect", volume), ("volume", "ls"), ("system", "df", "-v"),
                     ("ps", "-a", "--no-trunc"), ("images",)):  # fmt: skip
            shown = docker(host, *args).stdout
            assert SECRET.encode() not in shown, args
            assert root.encode() not in shown and str(hostdir).encode() not in shown, args
        [inspected] = json.loads(docker(host, "image", "inspect", image).stdout)
        assert "API_TOKEN" in inspected["Config"]["Env"]
        for args in (("top", name, "auxe"), ("image", "history", "--no-trunc", image)):
            assert SECRET.encode() in direct(*args).stdout  # the daemon tells it, directly
            refused = docker(host, *args, check=False)
            assert refused.returncode != 0 and SECRET.encode() not in refused.stdout
            assert b"cannot be redacted" in refused.stderr, refused.stderr
    finally:
        direct("rm", "-f", name, logged)
        direct("rmi", image)
        direct("volume", "rm", volume)


def test_a_list_longer_than_any_answer_sockspy_holds_still_reaches_a_redacting_client(
    redacting: ProxyProcess, direct: Docker, docker_daemon: DockerDaemon, test_image: str,
    new_name: Callable[[], str],
) -> None:  # fmt: skip
    """One client's many large objects (here 20 containers with 1 MiB of labels each:
    tenants' creates are bounded by max_body_bytes, not their number) must not make every
    redacted list fail: a list is redacted item by item as it streams."""
    names = [new_name() for _ in range(20)]
    labels = {f"big{i}": "x" * 1024 for i in range(1000)}  # 1 MiB of labels
    docker_py = pytest.importorskip("docker")
    client = docker_py.APIClient(base_url=docker_daemon.host)
    for name in names:
        client.create_container(test_image, ["true"], name=name, labels=labels,
                                environment=[f"DB_PASSWORD={SECRET}"])  # fmt: skip
    client.close()
    try:
        raw = docker(redacting.unix_host, "ps", "-a", "--no-trunc", "--format", "{{json .}}")
        listed = [json.loads(line) for line in raw.stdout.splitlines()]
        assert set(names) <= {item["Names"] for item in listed}
        conn = connect(redacting.unix_host, timeout=60)
        conn.request("GET", "/v1.41/containers/json?all=1")
        response = conn.getresponse()
        body = response.read()
        conn.close()
        assert response.status == 200 and len(body) > 16 * 1024 * 1024  # MAX_REDACTED_BODY
        assert SECRET.encode() not in body
        assert response.getheader("Transfer-Encoding") == "chunked"
        containers = json.loads(body)
        mine = [c for c in containers if c["Names"][0].lstrip("/") in names]
        assert len(mine) == 20 and all(len(c["Labels"]) == 1000 for c in mine)
    finally:
        direct("rm", "-f", *names)


def test_a_redacting_clients_event_stream_shows_no_exec_command_line(
    redacting: ProxyProcess, direct: Docker, test_image: str, new_name: Callable[[], str]
) -> None:
    name = new_name()
    direct("run", "-d", "--name", name, "--network", "none", test_image, "sleep", "300")
    try:
        since = str(int(time.time()) - 1)
        direct("exec", name, "sh", "-c", f"echo pw={SECRET} > /dev/null")
        until = str(int(time.time()) + 1)
        time.sleep(1.2)
        args = ("events", "--since", since, "--until", until, "--filter", f"container={name}",
                "--format", "{{json .}}")  # fmt: skip
        plain = direct(*args).stdout
        assert SECRET.encode() in plain  # the daemon tells it, directly
        shown = docker(redacting.unix_host, *args).stdout
        actions = [json.loads(line)["Action"] for line in shown.splitlines()]
        assert "exec_start" in actions and SECRET.encode() not in shown
    finally:
        direct("rm", "-f", name)
