"""`serve --workers 2` in front of the real daemon: both workers serve the one front, the
audit log is one hash chain that verifies, SIGHUP reaches every worker, and SIGTERM
stops them all cleanly."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support.cli import docker
from support.proxy import ProxyProcess

pytestmark = pytest.mark.e2e

StartProxy = Callable[..., ProxyProcess]


def test_two_workers_share_the_front_and_write_one_chain(start_sockspy: StartProxy) -> None:
    proxy = start_sockspy("--workers", "2")
    wait_for_workers(proxy, 2)
    with ThreadPoolExecutor(16) as pool:  # enough at once that both workers accept some
        results = list(pool.map(lambda _: docker(proxy.unix_host, "ps", "-q"), range(128)))
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


def test_the_supervisors_metrics_sum_every_workers_counters(
    start_sockspy: StartProxy, tmp_path: Path
) -> None:
    admin = tmp_path / "admin.sock"
    proxy = start_sockspy("--workers", "2", "--admin-listen", f"unix://{admin}")
    wait_for_workers(proxy, 2)
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: docker(proxy.unix_host, "version"), range(40)))
    assert all(r.returncode == 0 for r in results)
    deadline = time.monotonic() + 10
    while True:  # the workers report every second
        text = admin_get(admin, "/metrics")
        served = sum(
            int(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("sockspy_exchanges_total{")
        )
        if served >= 80 or time.monotonic() > deadline:  # `docker version`: ping + version
            break
        time.sleep(0.2)
    metrics = json.loads(admin_get(admin, "/metrics?format=json"))
    proxy.stop()
    exchanges = [r for r in proxy.audit_records() if r.get("event") == "exchange"]
    assert served == len(exchanges), (text, len(exchanges))  # both workers counted
    assert metrics["workers"] == 2 and metrics["connections_accepted"] >= 40, metrics


def test_a_sighup_while_the_workers_start_reaches_each_of_them_once_it_is_ready(
    start_sockspy: StartProxy,
) -> None:
    proxy = start_sockspy("--workers", "2")  # its front accepts before the workers serve
    proxy.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 30
    while sum(r.get("event") == "policy_reload" for r in proxy.audit_records()) < 2:
        assert time.monotonic() < deadline, "a worker missed the SIGHUP sent while it started"
        time.sleep(0.1)
    assert docker(proxy.unix_host, "ps").returncode == 0
    proxy.stop()  # exit 0: no worker was ended by the early signal


def wait_for_workers(proxy: ProxyProcess, count: int) -> None:
    """Until every worker has started serving (each logs the daemon it forwards to)."""
    deadline = time.monotonic() + 30
    while sum(r.get("event") == "upstream" for r in proxy.audit_records()) < count:
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.1)


def admin_get(path: Path, target: str) -> str:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(path))
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return body.decode()
