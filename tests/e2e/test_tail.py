"""`sockspy tail` as a person sees it: in a terminal (tmux), following a real server's log
while the real CLI works through it."""

from __future__ import annotations

import secrets
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.cli import docker
from support.proxy import ProxyProcess

pytestmark = pytest.mark.e2e

StartProxy = Callable[..., ProxyProcess]

POLICY = """
[[rules]]
name = "no-creates"
action = "deny"
endpoints = ["container.create"]
message = "no new containers here"

[[rules]]
name = "rest"
action = "allow"
"""


class Tmux:
    """A detached tmux server of its own, 200 columns wide."""

    def __init__(self) -> None:
        tmux = shutil.which("tmux")
        assert tmux is not None, "tmux is installed by .ci/run"
        self.base = [tmux, "-L", f"sockspy-{secrets.token_hex(4)}"]

    def run(self, *args: str) -> str:
        done = subprocess.run([*self.base, *args], capture_output=True, text=True, check=True)
        return done.stdout

    def window(self, name: str, command: str) -> None:
        self.run("new-session" if name == "one" else "new-window", *(
            ["-d", "-x", "200", "-y", "50"] if name == "one" else ["-d"]
        ), "-n", name, command)  # fmt: skip

    def screen(self, name: str, escapes: bool = False) -> str:
        return self.run("capture-pane", "-p", *(["-e"] if escapes else []), "-t", name)

    def wait_for(self, name: str, text: str, seconds: float = 10) -> str:
        deadline = time.monotonic() + seconds
        while True:
            screen = self.screen(name)
            if text in screen or time.monotonic() > deadline:
                return screen
            time.sleep(0.1)

    def kill(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True, check=False)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    session = Tmux()
    yield session
    session.kill()


def test_tail_shows_each_exchange_as_it_happens_with_denials_in_colour(
    start_sockspy: StartProxy, test_image: str, tmp_path: Path, tmux: Tmux
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    proxy = start_sockspy(policy=str(policy))
    command = f"{shlex.quote(sys.executable)} -m sockspy tail {shlex.quote(str(proxy.audit_path))}"
    tmux.window("one", f"{command} --color always -n 0")
    tmux.window("denied", f"{command} --denied -n 0")
    time.sleep(1)  # both tails are following
    docker(proxy.unix_host, "ps")
    refused = docker(proxy.unix_host, "create", test_image, "true", check=False)
    assert b"no new containers here" in refused.stderr

    everything = tmux.wait_for("one", "container.create")
    listing = [row for row in everything.splitlines() if "container.list" in row]
    assert listing and "ALLOW" in listing[0] and "GET container.list /v" in listing[0]
    assert "200" in listing[0]
    denial = [row for row in everything.splitlines() if "container.create" in row]
    assert "DENY" in denial[0] and "rule=no-creates: no new containers here" in denial[0]
    coloured = next(r for r in tmux.screen("one", escapes=True).splitlines() if "DENY" in r)
    assert "31m" in coloured.split("DENY")[0]  # red, as asked (tmux may split the escape)

    only_denials = tmux.wait_for("denied", "container.create")
    rows = [row for row in only_denials.splitlines() if row.strip()]
    assert rows and all("DENY" in row for row in rows), rows
