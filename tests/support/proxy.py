"""Run sockspy as a subprocess with a unix front and a tcp front, the way a user would."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sockspy.policy.tecnativa import UNSUPPORTED, VARIABLES
from support.records import check_records

READY_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 20.0

FRONTS = ("unix", "tcp")

# The policy the tests' proxies run unless they ask for another: forward everything,
# record decisions, so that the core's tests see the whole policy engine on the path
# without its verdicts getting in their way.
DEFAULT_POLICY = "audit-only"


def free_tcp_port() -> int:
    # Racy in theory (the port is free when we look), fine on a test machine.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ProxyProcess:
    """A running ``python -m sockspy serve`` and where to reach it."""

    proc: subprocess.Popen[bytes]
    rundir: Path  # short dir for the unix socket (sun_path is 108 bytes)
    logdir: Path  # audit log and stderr, kept by pytest for post-mortems
    unix_path: Path
    tcp_port: int
    argv: list[str]
    stopped: bool = field(default=False)

    @property
    def unix_host(self) -> str:
        return f"unix://{self.unix_path}"

    @property
    def tcp_host(self) -> str:
        return f"tcp://127.0.0.1:{self.tcp_port}"

    def host(self, front: str) -> str:
        """The DOCKER_HOST value for ``front`` ("unix" or "tcp")."""
        return {"unix": self.unix_host, "tcp": self.tcp_host}[front]

    @property
    def audit_path(self) -> Path:
        return self.logdir / "audit.jsonl"

    @property
    def stderr_path(self) -> Path:
        return self.logdir / "stderr.log"

    def audit_records(self) -> list[dict[str, Any]]:
        """Every JSON line written to the audit log so far (a torn last line is skipped)."""
        try:
            text = self.audit_path.read_text()
        except FileNotFoundError:
            return []
        records = []
        lines = text.split("\n")
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                if i == len(lines) - 1:
                    continue  # still being written
                raise AssertionError(f"audit log line {i + 1} is not JSON: {line!r}") from None
        check_records(records)  # every record as the README's table says
        return records

    def exchanges(self) -> list[dict[str, Any]]:
        return [r for r in self.audit_records() if r.get("event") == "exchange"]

    def stderr_tail(self, chars: int = 4000) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        """SIGTERM, then require a clean exit 0 within STOP_TIMEOUT_S."""
        if self.stopped:
            return
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code: int | str = self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = f"still running {STOP_TIMEOUT_S:.0f} s after SIGTERM, killed"
        shutil.rmtree(self.rundir, ignore_errors=True)
        if code != 0:
            raise AssertionError(
                f"proxy did not exit 0 on SIGTERM ({code}); "
                f"argv {self.argv}\nstderr tail:\n{self.stderr_tail()}"
            )


def start_proxy(
    upstream: str,
    logdir: Path,
    extra_args: Sequence[str] = (),
    *,
    policy: str | None = DEFAULT_POLICY,
    env: Mapping[str, str] | None = None,
    open_files: int | None = None,
) -> ProxyProcess:
    """Start sockspy in front of ``upstream``; return once both fronts accept connections.

    ``open_files`` sets its RLIMIT_NOFILE, soft and hard (a scaled-down machine).

    ``policy`` is the ``-c`` given when ``extra_args`` has none (a preset name or a file);
    ``None`` gives no ``-c`` at all, so sockspy chooses its policy as it does for a user:
    docker-socket-proxy variables if any is set, else the readonly preset. ``env`` adds
    environment variables. The docker-socket-proxy variables of the test run's own
    environment are never passed on: only ``env`` can set them.
    """
    has_config = any(a in ("-c", "--config") or a.startswith("--config=") for a in extra_args)
    if policy is not None and not has_config:
        extra_args = ("-c", policy, *extra_args)
    proc_env = {k: v for k, v in os.environ.items() if k not in (*VARIABLES, *UNSUPPORTED)}
    proc_env.update(env or {})
    logdir.mkdir(parents=True, exist_ok=True)
    rundir = Path(tempfile.mkdtemp(prefix="ssp", dir="/tmp"))
    unix_path = rundir / "front.sock"
    port = free_tcp_port()
    audit = logdir / "audit.jsonl"
    argv = [
        sys.executable, "-m", "sockspy", "serve",
        "-H", f"unix://{unix_path}",
        "-H", f"tcp://127.0.0.1:{port}",
        "--upstream", upstream,
        "--log-format", "json",
        "--log-file", str(audit),
        *extra_args,
    ]  # fmt: skip
    with open(logdir / "stderr.log", "wb") as err:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT, env=proc_env,
            preexec_fn=None if open_files is None else _limit_open_files(open_files),
        )  # fmt: skip
    proxy = ProxyProcess(proc, rundir, logdir, unix_path, port, argv)
    try:
        _wait_until_ready(proxy)
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(rundir, ignore_errors=True)
        raise
    return proxy


def _limit_open_files(count: int) -> Callable[[], None]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))

    return limit


def _wait_until_ready(proxy: ProxyProcess) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proxy.proc.poll() is not None:
            raise AssertionError(
                f"proxy exited with {proxy.proc.returncode} before it was ready; "
                f"argv {proxy.argv}\nstderr:\n{proxy.stderr_tail()}"
            )
        if _accepts_unix(proxy.unix_path) and _accepts_tcp(proxy.tcp_port):
            return
        time.sleep(0.05)
    raise AssertionError(
        f"proxy fronts did not accept connections within {READY_TIMEOUT_S:.0f} s; "
        f"argv {proxy.argv}\nstderr:\n{proxy.stderr_tail()}"
    )


def _accepts_unix(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(str(path))
    except OSError:
        return False
    return True


def _accepts_tcp(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            pass
    except OSError:
        return False
    return True
