"""Redacted inspect through the real CLI and docker-py: env values and mount sources are
gone, every other field is the daemon's (compared as JSON with a direct inspect), and
both clients still parse the answer."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.cli import Docker, docker
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
    for mount in out.get("Mounts") or []:
        mount["Source"] = None
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
