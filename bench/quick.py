"""Quick figures for the core: keep-alive /_ping rate and `docker save` throughput.

Each workload runs against the daemon directly and through sockspy in the same run,
alternating, and prints the ratio to direct. The full benchmark suite is a later issue.

    python bench/quick.py --daemon unix:///var/run/docker.sock [--image IMAGE] [--pings 5000]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REQUEST = b"GET /_ping HTTP/1.1\r\nHost: api.moby.localhost\r\n\r\n"


def unix_path(host: str) -> str:
    assert host.startswith("unix://"), "bench/quick.py measures unix sockets"
    return host.removeprefix("unix://")


def ping_rate(path: str, count: int) -> float:
    """Requests per second of `count` sequential keep-alive pings on one connection."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    buf = b""
    started = time.perf_counter()
    for _ in range(count):
        sock.sendall(REQUEST)
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                head = buf[:end].lower()
                length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
                if len(buf) >= end + 4 + length:
                    buf = buf[end + 4 + length :]
                    break
            data = sock.recv(65536)
            if not data:
                raise RuntimeError("connection closed")
            buf += data
    elapsed = time.perf_counter() - started
    sock.close()
    return count / elapsed


def save_throughput(host: str, image: str) -> tuple[float, int, str]:
    """MiB/s of `docker save IMAGE` to a pipe, and the size and sha256 of the tar."""
    env = dict(os.environ, DOCKER_HOST=host)
    started = time.perf_counter()
    proc = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    digest = hashlib.sha256()
    size = 0
    while chunk := proc.stdout.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    if proc.wait() != 0:
        raise RuntimeError("docker save failed")
    elapsed = time.perf_counter() - started
    return size / elapsed / (1 << 20), size, digest.hexdigest()


def start_sockspy(upstream: str, front: str, log: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sockspy", "serve", "-H", f"unix://{front}",
         "--upstream", upstream, "--log-format", "json", "--log-file", log],
    )  # fmt: skip
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.connect(front)
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("sockspy did not start")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--daemon", default=os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"))
    parser.add_argument("--image", default=None, help="image for docker save (default: none)")
    parser.add_argument("--pings", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rundir = tempfile.mkdtemp(prefix="ssb", dir="/tmp")
    front = str(Path(rundir) / "front.sock")
    proc = start_sockspy(args.daemon, front, str(Path(rundir) / "audit.jsonl"))
    targets = {"direct": args.daemon, "sockspy": f"unix://{front}"}
    results: dict[tuple[str, str], list[float]] = {}
    digests: dict[str, set[str]] = {"direct": set(), "sockspy": set()}
    try:
        for round_no in range(args.rounds):
            order = list(targets.items())
            if round_no % 2:
                order.reverse()
            for name, host in order:
                results.setdefault(("ping keep-alive req/s", name), []).append(
                    ping_rate(unix_path(host), args.pings)
                )
                if args.image:
                    rate, size, digest = save_throughput(host, args.image)
                    label = f"docker save {size >> 20} MiB, MiB/s"
                    results.setdefault((label, name), []).append(rate)
                    digests[name].add(digest)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    print(f"{'workload':40} {'direct':>12} {'sockspy':>12} {'ratio':>8}")
    for workload in dict.fromkeys(w for w, _ in results):
        direct = statistics.median(results[(workload, "direct")])
        proxied = statistics.median(results[(workload, "sockspy")])
        print(f"{workload:40} {direct:12.1f} {proxied:12.1f} {proxied / direct:7.2f}x")
    if args.image:
        same = digests["direct"] == digests["sockspy"] and len(digests["direct"]) == 1
        print(f"docker save output identical through sockspy: {same}")
        if not same:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
