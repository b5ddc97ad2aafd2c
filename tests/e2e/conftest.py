"""Fixtures for the end-to-end tests: sockspy in front of the real daemon, the CLI, cleanup."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from support.cli import Docker, docker
from support.daemon import DockerDaemon
from support.proxy import DEFAULT_POLICY, FRONTS, ProxyProcess, start_proxy

StartProxy = Callable[..., ProxyProcess]


@pytest.fixture(params=FRONTS)
def front(request: pytest.FixtureRequest) -> str:
    """Which front of the proxy the client uses: "unix" or "tcp"."""
    value: str = request.param
    return value


@pytest.fixture
def start_sockspy(docker_daemon: DockerDaemon, tmp_path: Path) -> Iterator[StartProxy]:
    """Factory: start sockspy with extra CLI args; each one is stopped (exit 0) at teardown.

    ``policy`` is the ``-c`` value (default: audit-only); ``policy=None`` passes no ``-c``,
    so sockspy picks its own default. ``env`` adds environment variables (docker-socket-proxy
    variables among them). See `support.proxy.start_proxy`.
    """
    started: list[ProxyProcess] = []

    def _start(
        *extra_args: str,
        upstream: str | None = None,
        policy: str | None = DEFAULT_POLICY,
        env: Mapping[str, str] | None = None,
        open_files: int | None = None,
    ) -> ProxyProcess:
        logdir = tmp_path / f"sockspy{len(started)}"
        proxy = start_proxy(
            upstream or docker_daemon.host,
            logdir,
            extra_args,
            policy=policy,
            env=env,
            open_files=open_files,
        )
        started.append(proxy)
        return proxy

    yield _start
    for proxy in started:
        proxy.stop()


@pytest.fixture
def sockspy(start_sockspy: StartProxy) -> ProxyProcess:
    """sockspy with default settings (audit everything, deny nothing)."""
    return start_sockspy()


@pytest.fixture
def via_proxy(sockspy: ProxyProcess, front: str) -> Docker:
    """``via_proxy("ps", "-a")`` runs the docker CLI through the chosen front of sockspy."""
    return functools.partial(docker, sockspy.host(front))


@pytest.fixture
def direct(docker_daemon: DockerDaemon) -> Docker:
    """The docker CLI straight to the daemon: to set up, to check, and to clean up."""
    return functools.partial(docker, docker_daemon.host)


@pytest.fixture
def new_name(docker_daemon: DockerDaemon) -> Iterator[Callable[[], str]]:
    """Unique container names; every container so named is removed at teardown."""
    names: list[str] = []

    def _new() -> str:
        name = f"sockspy-e2e-{secrets.token_hex(4)}"
        names.append(name)
        return name

    yield _new
    if names:
        docker(docker_daemon.host, "rm", "-f", *names, check=False, timeout=60)
