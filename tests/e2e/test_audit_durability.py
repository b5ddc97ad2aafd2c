"""What sockspy does when its audit log cannot be written, through the real CLI: a full
disk (a small tmpfs) and a stalled sink (a fifo nobody reads), under each durability."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.cli import docker
from support.proxy import ProxyProcess

pytestmark = pytest.mark.e2e

StartProxy = Callable[..., ProxyProcess]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 512 KiB tmpfs: the audit log's disk, to be filled up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Fill `disk` to the last byte; the filler file, to delete to make room again."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 4096)
    return filler


def test_strict_refuses_requests_while_the_disk_is_full_and_serves_again_after(
    start_sockspy: StartProxy, small_disk: Path
) -> None:
    log = small_disk / "audit.jsonl"
    proxy = start_sockspy("--log-file", str(log), "--audit-durability", "strict")
    docker(proxy.unix_host, "ps")
    filler = fill(small_disk)
    refused = None
    for _ in range(20):  # the first exchange after the disk filled shows the log failing
        result = docker(proxy.unix_host, "ps", check=False)
        if result.returncode != 0:
            refused = result
            break
        time.sleep(0.1)
    assert refused is not None, "a request went through while its record could not be written"
    assert b"audit log cannot take this request's record" in refused.stderr
    assert b"No space left on device" in refused.stderr
    filler.unlink()
    deadline = time.monotonic() + 10
    while docker(proxy.unix_host, "ps", check=False).returncode != 0:
        assert time.monotonic() < deadline, "still refused after the disk had room again"
        time.sleep(0.1)
    proxy.stop()
    # Nothing torn, nothing out of order: the batch the disk refused was written later, whole.
    verified = subprocess.run(
        ["python", "-m", "sockspy", "audit", "verify", str(log)], capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout
    assert "audit_unavailable" in log.read_text()  # the refusals are in the log too


class StalledFifo:
    """A fifo the log is written to, read by nobody until `drain` starts reading it."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path = path
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # lets the writer open it
        self.read = bytearray()
        self._thread: threading.Thread | None = None

    def drain(self) -> None:
        os.set_blocking(self.fd, True)

        def reader() -> None:
            while chunk := os.read(self.fd, 65536):
                self.read += chunk

        self._thread = threading.Thread(target=reader, daemon=True)
        self._thread.start()


def stall(
    fifo_dir: Path, start_sockspy: StartProxy, *args: str
) -> tuple[ProxyProcess, StalledFifo]:
    fifo = StalledFifo(fifo_dir / "audit.fifo")
    proxy = start_sockspy("--log-file", str(fifo.path), "--audit-buffer", "20", *args)
    return proxy, fifo


def test_best_effort_keeps_serving_while_the_log_is_stalled(
    start_sockspy: StartProxy, tmp_path: Path
) -> None:
    proxy, fifo = stall(tmp_path, start_sockspy)
    started = time.monotonic()
    # Far more records than the pipe and the queue hold (how much a pipe holds depends
    # on the kernel and on how the writes fill its pages: 40 was not always enough).
    for _ in range(150):
        docker(proxy.unix_host, "ps")
    assert time.monotonic() - started < 60
    fifo.drain()
    proxy.stop()
    assert b'"event":"audit_dropped"' in fifo.read  # what could not wait was counted


def test_strict_refuses_while_the_log_is_stalled_and_serves_once_it_is_read(
    start_sockspy: StartProxy, tmp_path: Path
) -> None:
    proxy, fifo = stall(tmp_path, start_sockspy, "--audit-durability", "strict")
    refused = None
    for _ in range(200):
        result = docker(proxy.unix_host, "ps", check=False)
        if result.returncode != 0:
            refused = result
            break
    assert refused is not None
    assert b"503" in refused.stderr or b"audit log cannot take" in refused.stderr
    fifo.drain()
    deadline = time.monotonic() + 10
    while docker(proxy.unix_host, "ps", check=False).returncode != 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    proxy.stop()


def test_block_makes_requests_wait_for_the_stalled_log_then_go_on(
    start_sockspy: StartProxy, tmp_path: Path
) -> None:
    proxy, fifo = stall(
        tmp_path, start_sockspy, "--audit-durability", "block", "--audit-block-seconds", "1"
    )
    slow = 0
    for _ in range(200):  # until the pipe and the queue are full, and one request waits
        started = time.monotonic()
        docker(proxy.unix_host, "ps")  # never refused
        slow += time.monotonic() - started >= 0.9
        if slow:
            break
    assert slow > 0, "no request waited for the stalled log"
    fifo.drain()
    started = time.monotonic()
    docker(proxy.unix_host, "ps")
    assert time.monotonic() - started < 0.9  # read again: no more waiting
    proxy.stop()
