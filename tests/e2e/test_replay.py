"""What-if replay of a recorded day, through the real CLI and daemon: the day is recorded
under a policy that only watches, then decided again under stricter presets, offline."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from support.cli import docker
from support.policies import WATCHING
from support.proxy import ProxyProcess

pytestmark = pytest.mark.e2e

StartProxy = Callable[..., ProxyProcess]


def replay(*args: str, exit_code: int = 1) -> subprocess.CompletedProcess[str]:
    """`sockspy replay`; it exits 1 when a request is newly denied (a CI gate), else 0."""
    done = subprocess.run(
        [sys.executable, "-m", "sockspy", "replay", *args], capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == exit_code, (args, done.returncode, done.stderr)
    return done


def test_a_recorded_day_replayed_under_stricter_presets_lists_exactly_what_they_deny(
    start_sockspy: StartProxy, test_image: str, new_name: Callable[[], str], tmp_path: Path
) -> None:
    policy = tmp_path / "watching.toml"
    policy.write_text(WATCHING)
    proxy = start_sockspy(policy=str(policy))
    plain, privileged, bound = new_name(), new_name(), new_name()
    host = proxy.unix_host
    docker(host, "run", "-d", "--name", plain, test_image, "sleep", "600")
    docker(host, "exec", plain, "true")
    docker(host, "ps", "-a")
    docker(host, "create", "--name", privileged, "--privileged", test_image, "true")
    docker(host, "create", "--name", bound, "-v", "/:/host", test_image, "true")
    docker(host, "volume", "create", "scratch-" + plain)
    docker(host, "volume", "rm", "scratch-" + plain)
    proxy.stop()
    log = str(proxy.audit_path)

    # ci-runner: CI may run containers, but never with host access.
    changes = json.loads(replay("ci-runner", log, "--format", "json").stdout)
    denied = [c for c in changes if c["change"] == "newly denied"]
    assert {c["target"].split("name=")[1] for c in denied} == {privileged, bound}
    assert {c["now"]["rule"] for c in denied} == {"no-host-access"}
    assert all(c["endpoint"] == "container.create" for c in denied)
    assert not [c for c in changes if c["change"] == "newly allowed"]
    assert not any(c["approximate"] for c in changes)

    # readonly: every write is denied, every read still allowed.
    text = replay("readonly", log).stdout
    lines = text.splitlines()
    summary = lines[-1]
    assert "newly denied" in summary and "0 newly allowed" in summary
    changed = [line for line in lines[:-1] if line.startswith("newly denied")]
    endpoints = {re.search(r" (?:GET|POST|PUT|DELETE|HEAD) (\S+) ", line)[1] for line in changed}  # type: ignore[index]
    assert {"container.create", "container.start", "exec.create", "exec.start",
            "volume.create", "volume.delete"} <= endpoints  # fmt: skip
    assert not endpoints & {"container.list", "system.ping", "container.inspect"}

    # The same day under the policy it was recorded with changes nothing.
    same = replay(str(policy), log, exit_code=0).stdout.splitlines()
    counts = re.fullmatch(
        r"(\d+) requests replayed under .*: 0 newly denied, 0 newly allowed, (\d+) unchanged",
        same[-1],
    )
    assert counts is not None and counts[1] == counts[2], same
