"""`serve --workers 2` in front of the real daemon: both workers serve the one front, the
audit log is one hash chain that verifies, SIGHUP reaches every worker, and SIGTERM
stops them all cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from support.cli import docker
from support.proxy import ProxyProcess

pytestmark = pytest.mark.e2e

StartProxy = Callable[..., ProxyProcess]


def test_two_workers_share_the_front_and_write_one_chain(start_sockspy: StartProxy) -> None:
    proxy = start_sockspy("--workers", "2")
    with ThreadPoolExecutor(16) as pool:  # enough at once that both workers accept some
        results = list(pool.map(lambda _: docker(proxy.unix_host, "ps", "-q"), range(64)))
    assert all(r.returncode == 0 for r in results)

    proxy.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while sum(r.get("event") == "policy_reload" for r in proxy.audit_records()) < 2:
        assert time.monotonic() < deadline, "SIGHUP did not reach both workers"
        time.sleep(0.1)
    assert docker(proxy.unix_host, "version").returncode == 0  # still serving after it

    proxy.stop()  # SIGTERM: exit 0, or the fixture fails
    records = proxy.audit_records()
    exchanges = [r for r in records if r.get("event") == "exchange"]
    runs = Counter(str(r["record_id"]).split("-", 1)[0] for r in exchanges)
    assert len(runs) == 2, runs  # both workers served
    assert {r["front"] for r in exchanges} == {proxy.unix_host}  # named as opened
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    assert sum(r.get("event") == "stopped" for r in records) == 2
    verified = subprocess.run(
        [sys.executable, "-m", "sockspy", "audit", "verify", str(proxy.audit_path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
