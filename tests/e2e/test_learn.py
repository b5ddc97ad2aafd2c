"""Learn mode with real clients: the docker CLI on the unix front, and a Traefik-like and a
Portainer-like client (docker-py over mTLS) watched in audit mode; the policy learnt from
them lets the same clients work in enforce mode and denies what none of them did."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import docker as docker_py
import pytest
from support.cli import docker
from support.policies import WATCHING
from support.proxy import ProxyProcess

pytestmark = pytest.mark.e2e

StartProxy = Callable[..., ProxyProcess]


def sockspy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sockspy", *args], capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [sys.executable, "-m", "sockspy", "certs", str(folder), "--san", "127.0.0.1",
         "--client", "traefik", "--client", "portainer"], check=True, capture_output=True,
    )  # fmt: skip
    return folder


def tls_args(certs: Path) -> tuple[str, ...]:
    return (
        "--tlsverify", "--tlscacert", str(certs / "ca.pem"),
        "--tlscert", str(certs / "server-cert.pem"), "--tlskey", str(certs / "server-key.pem"),
    )  # fmt: skip


@contextmanager
def client(proxy: ProxyProcess, certs: Path, name: str) -> Iterator[docker_py.DockerClient]:
    tls = docker_py.tls.TLSConfig(
        client_cert=(str(certs / name / "cert.pem"), str(certs / name / "key.pem")),
        ca_cert=str(certs / name / "ca.pem"), verify=True,
    )  # fmt: skip
    api = docker_py.DockerClient(
        base_url=f"https://127.0.0.1:{proxy.tcp_port}", tls=tls, version="1.41", timeout=60
    )
    try:
        yield api
    finally:
        api.close()


def a_day(proxy: ProxyProcess, certs: Path, test_image: str, name: str) -> None:
    """What each client does on an ordinary day."""
    host = proxy.unix_host
    docker(host, "run", "-d", "--name", name, test_image, "sleep", "600")
    docker(host, "exec", name, "true")
    docker(host, "logs", name)
    docker(host, "ps", "-a")
    with client(proxy, certs, "traefik") as traefik:  # watches containers and networks
        assert traefik.ping()
        traefik.containers.list()
        traefik.networks.list()
    with client(proxy, certs, "portainer") as portainer:  # shows everything
        portainer.info()
        portainer.containers.list(all=True)
        portainer.containers.get(name)
        portainer.images.list()
        portainer.volumes.list()


def test_a_learnt_policy_lets_the_same_clients_work_and_denies_what_they_never_did(
    start_sockspy: StartProxy,
    certs: Path,
    test_image: str,
    new_name: Callable[[], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    watching = tmp_path / "watching.toml"
    watching.write_text(WATCHING)
    proxy = start_sockspy(*tls_args(certs), policy=str(watching))
    first = new_name()
    a_day(proxy, certs, test_image, first)
    docker(proxy.unix_host, "rm", "-f", first)
    proxy.stop()

    learnt = sockspy("learn", str(proxy.audit_path), "--profile-by", "cert")
    assert learnt.returncode == 0, learnt.stderr
    policy = tmp_path / "learnt.toml"
    policy.write_text(learnt.stdout)
    checked = sockspy("check", str(policy))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert 'tls_names = ["traefik"]' in learnt.stdout
    # The CLI has no certificate: it is profiled by its uid, not left to every stranger.
    assert f"uids = [{os.getuid()}]" in learnt.stdout
    assert '\nname = "default-seen"' not in learnt.stdout
    # Replaying what it was learnt from denies nothing.
    replayed = sockspy("replay", str(policy), str(proxy.audit_path))
    assert replayed.returncode == 0 and ": 0 newly denied" in replayed.stdout, replayed.stdout

    enforcing = start_sockspy(*tls_args(certs), policy=str(policy))
    second = new_name()
    a_day(enforcing, certs, test_image, second)  # the same clients work

    with client(enforcing, certs, "traefik") as traefik:
        with pytest.raises(docker_py.errors.APIError) as created:
            traefik.containers.create(test_image, ["true"])
        assert created.value.status_code == 403
        with pytest.raises(docker_py.errors.APIError) as execed:
            traefik.api.exec_create(second, ["sh"])  # into another client's container
        assert execed.value.status_code == 403
    privileged = docker(
        enforcing.unix_host, "create", "--privileged", test_image, "true", check=False
    )
    assert privileged.returncode != 0 and b"host" in privileged.stderr
    expected = {"container.create", "exec.create"}
    deadline = time.monotonic() + 5  # the log is written off the event loop
    while True:
        denied = {r["endpoint"] for r in enforcing.exchanges() if r["decision"] == "deny"}
        if denied == expected or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert denied == expected
