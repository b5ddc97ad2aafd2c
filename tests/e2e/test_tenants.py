"""Two tenants on one daemon, through the real CLI and docker-py: each sees only its own
containers, volumes and events, and everything it tries on the other's container (and
every body reference to it) is a 404 while the daemon shows that nothing happened.

Tenant A is root (this test process, its CLI and docker-py); tenant B is uid 1002 and a
client without an owner uid 1003, both the CLI run under `setpriv` on a front that
every uid may reach.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.cli import Docker, describe, docker, docker_env
from support.proxy import ProxyProcess

pytestmark = pytest.mark.e2e

StartProxy = Callable[..., ProxyProcess]
LABEL = "io.sockspy.owner"
B_UID, NOBODY_UID = 1002, 1003


@dataclass
class Tenants:
    proxy: ProxyProcess
    shared_host: str  # the front uids other than root reach
    owner_a: str
    owner_b: str

    def a(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return docker(self.proxy.unix_host, *args, check=check)

    def b(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return as_uid(B_UID, self.shared_host, *args, check=check)

    def nobody(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return as_uid(NOBODY_UID, self.shared_host, *args, check=check)


def as_uid(
    uid: int, host: str, *args: str, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    """The docker CLI as `uid` (no groups), with a config dir of its own."""
    config = Path(tempfile.gettempdir()) / f"sockspy-e2e-cfg-{uid}"
    config.mkdir(mode=0o700, exist_ok=True)
    os.chown(config, uid, uid)
    cli = shutil.which("docker")
    assert cli is not None
    command = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", cli, *args]
    env = docker_env(host, {"DOCKER_CONFIG": str(config), "HOME": str(config)})
    result = subprocess.run(
        command, capture_output=True, timeout=120, env=env, stdin=subprocess.DEVNULL
    )
    if check and result.returncode != 0:
        raise AssertionError(describe(result))
    return result


@pytest.fixture
def tenants(start_sockspy: StartProxy, tmp_path: Path) -> Iterator[Tenants]:
    token = secrets.token_hex(4)
    owner_a, owner_b = f"team-a-{token}", f"uid-{B_UID}-{token}"
    policy = tmp_path / "tenants.toml"
    policy.write_text(
        f"""
[[profiles]]
name = "team-a"
uids = [0]
owner = "{owner_a}"

[[profiles]]
name = "uid-tenants"
uids = [{B_UID}]
owner = "uid-{{uid}}-{token}"

[[rules]]
name = "everything"
action = "allow"
"""
    )
    shared = Path(tempfile.mkdtemp(prefix="sockspy-tenants-", dir="/tmp"))
    shared.chmod(0o755)
    socket_path = shared / "docker.sock"
    proxy = start_sockspy(
        "-H", f"unix://{socket_path}", "--socket-mode", "0666", policy=str(policy)
    )
    try:
        yield Tenants(proxy, f"unix://{socket_path}", owner_a, owner_b)
    finally:
        proxy.stop()
        shutil.rmtree(shared, ignore_errors=True)


@pytest.fixture
def cleanup(direct: Docker) -> Iterator[list[str]]:
    """Container and volume names to remove at teardown (containers first)."""
    names: list[str] = []
    yield names
    containers = [n for n in names if not n.startswith("vol-")]
    volumes = [n for n in names if n.startswith("vol-")]
    if containers:
        direct("rm", "-f", *containers, check=False, timeout=60)
    if volumes:
        direct("volume", "rm", "-f", *volumes, check=False, timeout=60)


def names_in(result: subprocess.CompletedProcess[bytes]) -> set[str]:
    return set(result.stdout.decode().split())


def inspect(direct: Docker, name: str) -> dict[str, object]:
    [found] = json.loads(direct("inspect", name).stdout)
    return dict(found)


def test_two_tenants_each_see_only_their_own_containers_volumes_and_events(
    tenants: Tenants, direct: Docker, test_image: str, cleanup: list[str]
) -> None:
    token = secrets.token_hex(3)
    a1, b1 = f"sockspy-e2e-a-{token}", f"sockspy-e2e-b-{token}"
    va, vb = f"vol-a-{token}", f"vol-b-{token}"
    cleanup += [a1, b1, va, vb]
    since = str(int(time.time()) - 1)

    tenants.a("run", "-d", "--name", a1, "--network", "none", test_image, "sleep", "300")
    tenants.b("run", "-d", "--name", b1, "--network", "none", test_image, "sleep", "300")
    tenants.a("volume", "create", va)
    tenants.b("volume", "create", vb)

    # The daemon holds the labels sockspy added; the clients never sent them.
    assert inspect(direct, a1)["Config"]["Labels"][LABEL] == tenants.owner_a  # type: ignore[index]
    assert inspect(direct, b1)["Config"]["Labels"][LABEL] == tenants.owner_b  # type: ignore[index]

    seen_a = names_in(tenants.a("ps", "-a", "--format", "{{.Names}}"))
    seen_b = names_in(tenants.b("ps", "-a", "--format", "{{.Names}}"))
    assert a1 in seen_a and b1 not in seen_a
    assert b1 in seen_b and a1 not in seen_b
    # A client's own filters narrow further; they never widen.
    assert (
        names_in(tenants.b("ps", "-a", "--filter", f"label={LABEL}={tenants.owner_a}", "-q"))
        == set()
    )
    assert {a1, b1} <= names_in(tenants.nobody("ps", "-a", "--format", "{{.Names}}"))

    vols_a = names_in(tenants.a("volume", "ls", "-q"))
    vols_b = names_in(tenants.b("volume", "ls", "-q"))
    assert va in vols_a and vb not in vols_a
    assert vb in vols_b and va not in vols_b

    until = str(int(time.time()) + 1)
    time.sleep(1.2)
    fmt = "{{.Actor.Attributes.name}}"
    events_a = names_in(tenants.a("events", "--since", since, "--until", until, "--format", fmt))
    events_b = names_in(tenants.b("events", "--since", since, "--until", until, "--format", fmt))
    assert a1 in events_a and b1 not in events_a
    assert b1 in events_b and a1 not in events_b

    tenants.proxy.stop()
    creates = [
        r for r in tenants.proxy.audit_records()
        if r.get("event") == "exchange" and r.get("endpoint") == "container.create"
    ]  # fmt: skip
    assert {r["mutation"] for r in creates} == {
        f"label {LABEL}={tenants.owner_a}",
        f"label {LABEL}={tenants.owner_b}",
    }
    assert all(r["mutated"] is True for r in creates)


def test_every_action_on_the_other_tenants_container_is_a_404_and_nothing_happens(
    tenants: Tenants, direct: Docker, test_image: str, cleanup: list[str]
) -> None:
    token = secrets.token_hex(3)
    a1, va = f"sockspy-e2e-a-{token}", f"vol-a-{token}"
    cleanup += [a1, va, *(f"sockspy-e2e-b{i}-{token}" for i in range(8))]
    tenants.a("volume", "create", va)
    tenants.a(
        "run",
        "-d",
        "--name",
        a1,
        "--network",
        "none",
        "-v",
        f"{va}:/data",
        test_image,
        "sleep",
        "300",
    )
    before = inspect(direct, a1)
    short_id = str(before["Id"])[:12]

    attempts = [
        ("inspect", a1), ("inspect", short_id), ("stop", a1), ("kill", a1), ("restart", a1),
        ("pause", a1), ("rename", a1, f"stolen-{token}"), ("exec", a1, "true"),
        ("logs", a1), ("top", a1), ("cp", f"{a1}:/etc/hostname", "-"), ("rm", "-f", a1),
        ("rm", "-f", short_id), ("commit", a1), ("update", "--memory", "64m", a1),
    ]  # fmt: skip
    for args in attempts:
        result = tenants.b(*args, check=False)
        # `rm -f` exits 0 on a missing container, as it does straight on the daemon.
        assert result.returncode != 0 or args[:2] == ("rm", "-f"), args
        assert b"No such container" in result.stderr or b"No such object" in result.stderr, (
            args, result.stderr,
        )  # fmt: skip

    references = [
        ("--volumes-from", a1), ("--network", f"container:{a1}"), ("--pid", f"container:{a1}"),
        ("--ipc", f"container:{a1}"), ("--link", f"{a1}:db"), ("-v", f"{va}:/stolen"),
    ]  # fmt: skip
    for i, (flag, value) in enumerate(references):
        name = f"sockspy-e2e-b{i}-{token}"
        # --pull never: on a create's 404 the CLI would try to pull the image (it does the
        # same when the daemon itself answers "No such container" for a missing one).
        result = tenants.b(
            "run", "--pull", "never", "--name", name, flag, value, test_image, "true", check=False
        )
        assert result.returncode != 0, (flag, value)
        assert b"No such container" in result.stderr or b"no such volume" in result.stderr, (
            flag, result.stderr,
        )  # fmt: skip
        assert direct("inspect", name, check=False).returncode != 0, f"{flag} created {name}"

    after = inspect(direct, a1)
    assert after["Name"] == f"/{a1}"
    assert after["State"] == before["State"]  # still running, never stopped, paused or killed
    assert after["HostConfig"]["Memory"] == before["HostConfig"]["Memory"]  # type: ignore[index]
    # Tenant A still has it all; a client without an owner sees it too.
    assert tenants.a("exec", a1, "true").returncode == 0
    assert tenants.nobody("inspect", a1).returncode == 0


def test_docker_py_as_a_tenant_lists_only_its_own_and_cannot_reach_the_others(
    tenants: Tenants, test_image: str, cleanup: list[str]
) -> None:
    docker_py = pytest.importorskip("docker")
    token = secrets.token_hex(3)
    a1, b1 = f"sockspy-e2e-a-{token}", f"sockspy-e2e-b-{token}"
    cleanup += [a1, b1]
    tenants.b("run", "-d", "--name", b1, "--network", "none", test_image, "sleep", "300")

    client = docker_py.DockerClient(base_url=tenants.proxy.unix_host)
    try:
        mine = client.containers.run(
            test_image, ["sleep", "300"], name=a1, detach=True, network_mode="none"
        )
        assert mine.labels[LABEL] == tenants.owner_a
        listed = {c.name for c in client.containers.list(all=True)}
        assert a1 in listed and b1 not in listed
        with pytest.raises(docker_py.errors.NotFound):
            client.containers.get(b1)
        with pytest.raises(docker_py.errors.NotFound):
            client.api.kill(b1)
    finally:
        client.close()


def test_a_hex_name_that_is_another_tenants_id_prefix_starts_the_tenants_own_container(
    tenants: Tenants, direct: Docker, test_image: str, cleanup: list[str]
) -> None:
    token = secrets.token_hex(3)
    b1 = f"sockspy-e2e-b-{token}"
    cleanup.append(b1)
    tenants.b("run", "-d", "--name", b1, "--network", "none", test_image, "sleep", "300")
    prefix = str(inspect(direct, b1)["Id"])[:10]
    mine_hex, mine_plain = prefix, secrets.token_hex(5)  # both all hex digits
    cleanup += [mine_hex, mine_plain]
    for name in (mine_hex, mine_plain):
        tenants.a("create", "--name", name, "--network", "none", test_image, "sleep", "300")

    # Renamed away between check and use, the first would resolve to B's container: it
    # is forwarded by the id sockspy checked, A's own (it was refused before).
    assert tenants.a("start", mine_hex).returncode == 0
    assert inspect(direct, mine_hex)["State"]["Running"] is True  # type: ignore[index]
    assert tenants.a("start", mine_plain).returncode == 0  # no one's id begins with it
    assert inspect(direct, b1)["State"]["Running"] is True  # type: ignore[index]


def test_a_tenant_can_neither_remove_nor_repoint_a_shared_image(
    tenants: Tenants, direct: Docker, test_image: str
) -> None:
    shared = f"sockspy-e2e-shared:{secrets.token_hex(3)}"
    direct("tag", test_image, shared)
    try:
        removed = tenants.b("rmi", shared, check=False)
        assert removed.returncode != 0 and b"shared" in removed.stderr, removed.stderr
        moved = tenants.b("tag", test_image, shared, check=False)
        assert moved.returncode != 0 and b"in use" in moved.stderr, moved.stderr
        assert direct("image", "inspect", shared, check=False).returncode == 0
    finally:
        direct("rmi", shared, check=False)
