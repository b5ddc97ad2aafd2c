"""What a user sees when sockspy says no, and when the daemon is out of reach."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from support.cli import Docker, docker
from support.proxy import ProxyProcess

pytestmark = pytest.mark.e2e

StartProxy = Callable[..., ProxyProcess]


def test_denied_create_reaches_the_user_and_creates_no_container(
    start_sockspy: StartProxy,
    front: str,
    direct: Docker,
    test_image: str,
    new_name: Callable[[], str],
) -> None:
    proxy = start_sockspy("--deny-endpoint", "container.create")
    host = proxy.host(front)
    name = new_name()
    label = f"sockspy-e2e-deny={secrets.token_hex(8)}"

    result = docker(host, "run", "--name", name, "--label", label, test_image, "true", check=False)

    assert result.returncode != 0
    assert b"Error response from daemon: sockspy: denied" in result.stderr, result.stderr
    assert b"container.create" in result.stderr
    # Checked on the daemon itself: the request never got there. (By name and label, not
    # by counting: other clients may share the daemon.)
    assert direct("ps", "-a", "-q", "--filter", f"label={label}").stdout == b""
    assert direct("container", "inspect", name, check=False).returncode != 0
    # Other endpoints still work through the same proxy.
    assert docker(host, "ps").returncode == 0

    proxy.stop()
    denied = [
        r
        for r in proxy.audit_records()
        if r.get("event") == "exchange" and r.get("endpoint") == "container.create"
    ]
    assert len(denied) == 1, denied
    assert denied[0]["decision"] == "deny"
    assert denied[0]["status"] == 403
    assert denied[0]["method"] == "POST"


def test_unreachable_daemon_is_reported_to_the_user(start_sockspy: StartProxy, front: str) -> None:
    with tempfile.TemporaryDirectory(prefix="ssd", dir="/tmp") as empty:
        dead = Path(empty) / "docker.sock"  # nothing listens here
        proxy = start_sockspy(upstream=f"unix://{dead}")
        result = docker(proxy.host(front), "ps", check=False, timeout=60)
        assert result.returncode != 0
        assert b"cannot reach the Docker daemon" in result.stderr, result.stderr
        proxy.stop()
    statuses = [r.get("status") for r in proxy.audit_records() if r.get("event") == "exchange"]
    assert statuses and all(status == 502 for status in statuses), statuses
