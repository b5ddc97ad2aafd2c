"""Quiet streams stay open: logs -f, attach, wait and events survive a long idle period.

Other proxies cut event streams after 10 minutes and `logs -f` after 4 (the facts file).
sockspy has no stream timer at all (tests/io/test_no_stream_timers.py holds the code to
that); this test checks it end to end with the real CLI: four streams sit idle through
sockspy for IDLE_SECONDS, then each must still deliver.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable

import pytest
from support.cli import Docker, docker_popen, stop_process
from support.proxy import ProxyProcess
from support.streams import LineReader

pytestmark = pytest.mark.e2e

# Longer than the idle timeouts of common proxies and of Go's and HAProxy's defaults
# (HAProxy's "timeout client" in docker-socket-proxy is 10 minutes; nginx's read 60 s).
IDLE_SECONDS = float(os.environ.get("SOCKSPY_IDLE_TEST_SECONDS", "150"))


def test_quiet_logs_attach_wait_and_events_streams_survive_a_long_idle_period(
    sockspy: ProxyProcess, direct: Docker, test_image: str, new_name: Callable[[], str]
) -> None:
    name = new_name()
    # Quiet until told: PID 1 prints a line when /tmp/say appears, then exits on /tmp/end.
    script = (
        "echo start; while [ ! -e /tmp/say ]; do sleep 0.2; done; echo spoken; "
        "while [ ! -e /tmp/end ]; do sleep 0.2; done; exit 7"
    )
    direct("run", "-d", "--name", name, test_image, "sh", "-c", script)
    host = sockspy.unix_host
    since = str(int(time.time()))
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    logs = docker_popen(host, "logs", "-f", name, **pipes)
    attach = docker_popen(host, "attach", "--no-stdin", name, **pipes)
    wait = docker_popen(host, "wait", name, **pipes)
    events = docker_popen(
        host, "events", "--since", since, "--filter", f"container={name}",
        "--format", "{{json .}}", **pipes,
    )  # fmt: skip
    streams = {"logs": logs, "attach": attach, "wait": wait, "events": events}
    try:
        readers = {key: LineReader(proc.stdout) for key, proc in streams.items() if proc.stdout}
        readers["logs"].wait_for(lambda line: line == b"start\n", timeout=30)
        time.sleep(2)  # attach, wait and events are open by now (the audit log shows it)

        time.sleep(IDLE_SECONDS)
        for key, proc in streams.items():
            assert proc.poll() is None, f"{key} ended during {IDLE_SECONDS:.0f} s of quiet"

        direct("exec", name, "touch", "/tmp/say")
        readers["logs"].wait_for(lambda line: line == b"spoken\n", timeout=30)
        readers["attach"].wait_for(lambda line: line == b"spoken\n", timeout=30)

        def is_exec_of_say(line: bytes) -> bool:
            event = json.loads(line)
            return str(event.get("Action", "")).startswith("exec_create")

        readers["events"].wait_for(is_exec_of_say, timeout=30)
        direct("exec", name, "touch", "/tmp/end")
        readers["wait"].wait_for(lambda line: line == b"7\n", timeout=30)
        assert wait.wait(timeout=30) == 0
    finally:
        for proc in streams.values():
            stop_process(proc)
    sockspy.stop()
    sessions = [r for r in sockspy.audit_records() if r.get("event") == "session_end"]
    assert any(r["endpoint"] == "container.attach" for r in sessions)
    long_exchanges = [
        r for r in sockspy.exchanges()
        if r["endpoint"] in ("container.logs", "container.wait", "system.events")
        and r["duration_ms"] >= IDLE_SECONDS * 1000
    ]  # fmt: skip
    streamed = [
        {k: r.get(k) for k in ("endpoint", "target", "duration_ms", "status", "reason")}
        for r in sockspy.exchanges()
        if r["endpoint"] in ("container.logs", "container.wait", "system.events")
    ]  # (what the records say, should this fail again)
    assert {r["endpoint"] for r in long_exchanges} == {
        "container.logs", "container.wait", "system.events",
    }, streamed  # fmt: skip
