"""The container image: the repository's Dockerfile, built and run on the real daemon.

No registry is reachable and build containers have no network, so the image is built
the way the Dockerfile documents for offline builds: the base is made on this host
(`support.pybase`, cached on the daemon by tag), and the wheels of sockspy's dependencies
are built here with pip and handed to the build in the context (``wheels/``, with
``PIP_NO_INDEX`` and ``PIP_FIND_LINKS``). The build context holds what ``.dockerignore``
lets in, so the Dockerfile sees what it sees in a checkout.

Then the image runs as a user would run it: the daemon's socket mounted read-only, the
socket's group added, and the front reached from this host over the container's bridge
address (the shipped default command) or through a unix socket in a bind-mounted
directory.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.cli import describe, docker
from support.daemon import DockerDaemon
from support.pybase import ensure_python_base

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
IMAGE = "sockspy-image:test"
# What .dockerignore lets into the context (besides wheels/, added here).
CONTEXT_FILES = ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md")
CONTEXT_DIRS = ("sockspy",)
UID = "10001"
READY_TIMEOUT_S = 30.0
HEALTHY_TIMEOUT_S = 30.0

RunImage = Callable[..., str]


@pytest.fixture(scope="module")
def image(docker_daemon: DockerDaemon, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The image built from the Dockerfile on a locally made base, offline."""
    base = ensure_python_base(docker_daemon.host)
    context = tmp_path_factory.mktemp("image-context")
    for name in CONTEXT_FILES:
        shutil.copy2(REPO / name, context / name)
    for name in CONTEXT_DIRS:
        shutil.copytree(
            REPO / name, context / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    wheels = context / "wheels"
    # The dependencies (and sockspy itself) as wheels for the base's Python, which is
    # this interpreter; and setuptools, the build backend pip needs to build sockspy.
    _pip("wheel", "--wheel-dir", str(wheels), str(context))  # builds in the copy, not the repo
    _pip("download", "--only-binary=:all:", "--dest", str(wheels), "setuptools>=68")
    build_args = (
        "--build-arg", f"BASE={base}",
        "--build-arg", "PIP_NO_INDEX=1",
        "--build-arg", "PIP_FIND_LINKS=/src/wheels",
    )  # fmt: skip
    docker(docker_daemon.host, "build", "--tag", IMAGE, *build_args, str(context), timeout=600)
    # The build stage stays behind as an untagged image (~100 MB a run on a daemon that
    # lives on); asked for again, the builder answers from its cache with its id.
    stage = docker(
        docker_daemon.host, "build", "--quiet", "--target", "build", *build_args, str(context)
    )
    yield IMAGE
    docker(
        docker_daemon.host, "image", "rm", "--force", IMAGE, stage.stdout.decode().strip(),
        check=False,
    )  # fmt: skip


def _pip(*args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", *args],
        capture_output=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise AssertionError(describe(result))


@pytest.fixture
def daemon_socket(docker_daemon: DockerDaemon) -> str:
    if docker_daemon.socket_path is None:
        pytest.skip(f"the image test mounts the daemon's unix socket; {docker_daemon.host}")
    return docker_daemon.socket_path


@pytest.fixture
def run_image(docker_daemon: DockerDaemon, image: str, daemon_socket: str) -> Iterator[RunImage]:
    """Factory: start the image detached, as the README says; removed at teardown.

    ``run_image(*docker_run_options, command=(...))`` mounts the daemon's socket read-only
    at /var/run/docker.sock, adds the socket's group, checks health every second, and
    returns the container id. ``command=()`` keeps the image's default command.
    """
    started: list[str] = []

    def _run(*options: str, command: tuple[str, ...] = ()) -> str:
        name = f"sockspy-image-{secrets.token_hex(4)}"
        started.append(name)
        result = docker(
            docker_daemon.host, "run", "--detach", "--name", name,
            "--group-add", str(os.stat(daemon_socket).st_gid),
            "--volume", f"{daemon_socket}:/var/run/docker.sock:ro",
            "--health-interval", "1s",
            *options, image, *command,
        )  # fmt: skip
        return result.stdout.decode().strip()

    yield _run
    if started:
        docker(docker_daemon.host, "rm", "--force", *started, check=False, timeout=60)


def test_image_runs_as_an_unprivileged_user_with_a_healthcheck(
    docker_daemon: DockerDaemon, image: str
) -> None:
    config = _inspect(docker_daemon, image)["Config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["Healthcheck"]["Test"][0] == "CMD-SHELL"
    assert "/_ping" in config["Healthcheck"]["Test"][1]
    assert config["Entrypoint"] == ["sockspy"]
    assert config["Cmd"] == ["serve", "-H", "tcp://0.0.0.0:2375", "--insecure-plain-tcp"]
    ids = docker(docker_daemon.host, "run", "--rm", "--entrypoint", "id", image)
    assert ids.stdout.decode().startswith(f"uid={UID}(sockspy) gid={UID}(sockspy)")


def test_default_command_serves_docker_ps_and_denies_docker_run_over_tcp(
    docker_daemon: DockerDaemon, run_image: RunImage, test_image: str
) -> None:
    container = run_image()
    address = _inspect(docker_daemon, container)["NetworkSettings"]["IPAddress"]
    front = f"tcp://{address}:2375"
    _wait_until_serving(docker_daemon, container, front)

    listed = docker(front, "ps", "--all", "--format", "{{.ID}}")
    assert container[:12] in listed.stdout.decode().split()

    denied = docker(front, "run", "--rm", test_image, "true", check=False)
    assert denied.returncode != 0
    assert b"sockspy: denied by rule default" in denied.stderr, describe(denied)

    _wait_until_healthy(docker_daemon, container)
    logs = docker(docker_daemon.host, "logs", container)
    assert b"using the 'readonly' preset" in logs.stderr
    records = [json.loads(line) for line in logs.stdout.splitlines() if line.startswith(b"{")]
    assert any(
        r.get("endpoint") == "container.create" and r.get("decision") == "deny" for r in records
    ), records
    assert any(r.get("endpoint") == "system.ping" for r in records)  # the health check


def test_unix_front_in_a_shared_directory_serves_the_host(
    docker_daemon: DockerDaemon, run_image: RunImage
) -> None:
    shared = Path(tempfile.mkdtemp(prefix="spimg", dir="/tmp"))  # short: sun_path
    try:
        os.chown(shared, int(UID), int(UID))
        container = run_image(
            "--network", "none",
            "--volume", f"{shared}:/run/sockspy",
            "--env", "SOCKSPY_HEALTHCHECK=unix:///run/sockspy/docker.sock",
            command=("serve", "-H", "unix:///run/sockspy/docker.sock", "-c", "readonly"),
        )  # fmt: skip
        front = f"unix://{shared}/docker.sock"
        _wait_until_serving(docker_daemon, container, front)

        version = docker(front, "version", "--format", "{{.Server.Version}}")
        assert version.stdout.strip()
        denied = docker(front, "volume", "create", check=False)
        assert b"sockspy: denied by rule default" in denied.stderr, describe(denied)
        _wait_until_healthy(docker_daemon, container)
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def _inspect(daemon: DockerDaemon, obj: str) -> dict[str, Any]:
    result = docker(daemon.host, "inspect", obj)
    inspected: list[dict[str, Any]] = json.loads(result.stdout)
    return inspected[0]


def _wait_until_serving(daemon: DockerDaemon, container: str, front: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if docker(front, "version", check=False, timeout=10).returncode == 0:
            return
        if not _inspect(daemon, container)["State"]["Running"]:
            break
        time.sleep(0.2)
    logs = docker(daemon.host, "logs", container, check=False)
    raise AssertionError(f"sockspy in {container[:12]} does not serve {front}:\n{describe(logs)}")


def _wait_until_healthy(daemon: DockerDaemon, container: str) -> None:
    deadline = time.monotonic() + HEALTHY_TIMEOUT_S
    while time.monotonic() < deadline:
        health = _inspect(daemon, container)["State"]["Health"]
        if health["Status"] == "healthy":
            return
        time.sleep(0.5)
    raise AssertionError(f"{container[:12]} is not healthy: {health}")
