"""Session fixtures shared by all test layers: the real Docker daemon and the test image.

Both are lazy: the sans-IO and stream tests never ask for them, so they never start a
daemon. End-to-end tests that ask for them are skipped, with the reason, on a machine
that has neither DOCKER_HOST nor root + dockerd (CI checks that none were skipped).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from support.daemon import DaemonUnavailable, DockerDaemon, daemon_from_environment, private_dockerd
from support.image import ImageUnavailable, ensure_test_image


@pytest.fixture(scope="session")
def docker_daemon() -> Iterator[DockerDaemon]:
    """The real daemon: $DOCKER_HOST if set, else a private dockerd started for the session."""
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not on PATH (install docker.io)")
    daemon = daemon_from_environment()
    if daemon is not None:
        yield daemon
        return
    try:
        with private_dockerd() as started:
            yield started
    except DaemonUnavailable as exc:
        pytest.skip(f"no Docker daemon for end-to-end tests: {exc}")


@pytest.fixture(scope="session")
def test_image(docker_daemon: DockerDaemon) -> str:
    """``sockspy-bb:latest`` on the daemon: a static busybox, imported (no registry here)."""
    try:
        return ensure_test_image(docker_daemon.host)
    except ImageUnavailable as exc:
        pytest.skip(f"cannot build the test image: {exc}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tag e2e tests in the junit report, so that .ci/run can prove none were skipped.
    for item in items:
        if item.get_closest_marker("e2e") is not None:
            item.user_properties.append(("marker", "e2e"))
